import type { ListStore, ViewTodo } from '../store/list-store.ts';
import { Item } from './item.tsx';

interface MainProps {
  store: ListStore;
  /** The todos the filter shows. */
  shown: ViewTodo[];
  /** How many todos are not completed (in the whole list, not only those shown). */
  active: number;
  /** The id or key of the todo being edited. */
  editing: string | undefined;
  setEditing(id: string | undefined): void;
  /** A todo was deleted from the list: the focus goes back to the new-todo input. */
  onGone(): void;
}

/** The list: "mark all as complete" and the todos shown. */
export function Main({ store, shown, active, editing, setEditing, onGone }: MainProps) {
  return (
    <section class="main">
      <input
        id="toggle-all"
        class="toggle-all"
        type="checkbox"
        checked={active === 0}
        onChange={() => store.setAllCompleted(active !== 0)}
      />
      <label for="toggle-all">Mark all as complete</label>
      <ul class="todo-list">
        {shown.map((todo) => (
          <Item
            key={todo.key}
            todo={todo}
            store={store}
            editing={editing === todo.id || editing === todo.key}
            onEdit={(on) => setEditing(on ? todo.id : undefined)}
            onGone={onGone}
          />
        ))}
      </ul>
    </section>
  );
}
