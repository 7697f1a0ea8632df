import { TITLE_MAX_LENGTH } from '@tasktier/contract/constants';
import type { JSX } from 'preact';
import { useLayoutEffect, useRef } from 'preact/hooks';
import type { ListStore, ViewTodo } from '../store/list-store.ts';
import { cleanTitle } from '../title.ts';

interface ItemProps {
  todo: ViewTodo;
  store: ListStore;
  editing: boolean;
  onEdit(on: boolean): void;
  onGone(): void;
}

/** One todo: its checkbox, its title (double-click or Enter to edit it) and its delete button. */
export function Item({ todo, store, editing, onEdit, onGone }: ItemProps) {
  const edit = useRef<HTMLInputElement>(null);
  const label = useRef<HTMLLabelElement>(null);
  // Escape cancels; the blur that follows must then not save.
  const cancelled = useRef(false);
  const refocusLabel = useRef(false);

  // A layout effect: the field has its text and the focus before the browser paints it.
  useLayoutEffect(() => {
    if (editing && edit.current) {
      cancelled.current = false;
      edit.current.value = todo.title;
      edit.current.focus();
      edit.current.setSelectionRange(todo.title.length, todo.title.length);
    } else if (!editing && refocusLabel.current) {
      refocusLabel.current = false;
      label.current?.focus();
    }
    // Only when editing starts or stops: a remote change must not reset what is being typed.
  }, [editing]);

  const commit = () => {
    if (cancelled.current || !edit.current) return;
    cancelled.current = true;
    const title = cleanTitle(edit.current.value);
    onEdit(false);
    if (!title) {
      store.remove(todo.id);
      onGone();
    } else if (title !== todo.title) {
      store.update(todo.id, { title });
    }
  };

  const onEditKey = (event: JSX.TargetedKeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'Enter' && !event.isComposing) {
      refocusLabel.current = true;
      commit();
    } else if (event.key === 'Escape') {
      cancelled.current = true;
      refocusLabel.current = true;
      onEdit(false);
    }
  };

  const onLabelKey = (event: JSX.TargetedKeyboardEvent<HTMLLabelElement>) => {
    if (event.key === 'Enter' || event.key === 'F2') {
      event.preventDefault();
      onEdit(true);
    }
  };

  const classes = [todo.completed ? 'completed' : '', editing ? 'editing' : ''].filter(Boolean).join(' ');
  return (
    <li class={classes || undefined} data-id={todo.id}>
      <div class="view">
        <input
          class="toggle"
          type="checkbox"
          checked={todo.completed}
          aria-label={`${todo.title}: ${todo.completed ? 'completed' : 'not completed'}`}
          onChange={() => store.update(todo.id, { completed: !todo.completed })}
        />
        {/* biome-ignore lint/a11y/noLabelWithoutControl: TodoMVC markup; the label shows the title, its checkbox is labelled by aria-label */}
        <label
          ref={label}
          // biome-ignore lint/a11y/noNoninteractiveTabindex: focusing the title and pressing Enter is how keyboard users edit
          tabIndex={0}
          title="Double-click or press Enter to edit"
          onDblClick={() => onEdit(true)}
          onKeyDown={onLabelKey}
        >
          {todo.title}
        </label>
        <button
          type="button"
          class="destroy"
          aria-label={`Delete ${todo.title}`}
          onClick={() => {
            store.remove(todo.id);
            onGone();
          }}
        />
      </div>
      {editing && (
        <input
          ref={edit}
          class="edit"
          aria-label={`Edit ${todo.title}`}
          maxLength={TITLE_MAX_LENGTH}
          onBlur={commit}
          onKeyDown={onEditKey}
        />
      )}
    </li>
  );
}
