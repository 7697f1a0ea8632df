import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { ListStore } from '../store/list-store.ts';
import { useFilter } from './filter.ts';
import { Footer } from './footer.tsx';
import { Header } from './header.tsx';
import { Main } from './main.tsx';
import { NotFound } from './not-found.tsx';
import { NoticeBanner } from './notice.tsx';
import { Share } from './share.tsx';

function useStore(store: ListStore) {
  const [, setTick] = useState(0);
  const rendered = store.state;
  // A layout effect runs as the first render is committed, before store.start() sends anything; a
  // plain effect ran after the next paint, and a list (or its 404) that arrived before that was
  // never shown: under load the page stayed empty. Whatever changed in between is caught up here.
  useLayoutEffect(() => {
    const unsubscribe = store.subscribe(() => setTick((n) => n + 1));
    if (store.state !== rendered) setTick((n) => n + 1);
    return unsubscribe;
  }, [store]);
  return store.state;
}

/** The page of one list: the notice, the TodoMVC app (header, main, footer) and the info below it. */
export function App({ store }: { store: ListStore }) {
  const state = useStore(store);
  const filter = useFilter();
  const [editing, setEditing] = useState<string | undefined>();
  const newTodo = useRef<HTMLInputElement>(null);

  useEffect(() => newTodo.current?.focus(), []);

  if (state.notice?.kind === 'not-found') return <NotFound />;

  const todos = state.todos;
  const active = todos.filter((todo) => !todo.completed).length;
  const completed = todos.length - active;
  const shown = todos.filter((todo) =>
    filter === 'all' ? true : filter === 'active' ? !todo.completed : todo.completed,
  );

  return (
    <>
      <NoticeBanner notice={state.notice} onDismiss={() => store.dismissError()} />
      <section class="todoapp" aria-busy={!state.loaded}>
        <Header store={store} returned={state.returned} inputRef={newTodo} />
        {todos.length > 0 && (
          <Main
            store={store}
            shown={shown}
            active={active}
            editing={editing}
            setEditing={setEditing}
            onGone={() => newTodo.current?.focus()}
          />
        )}
        {todos.length > 0 && <Footer store={store} active={active} completed={completed} filter={filter} />}
      </section>
      <footer class="info">
        <p>Double-click (or press Enter on) a todo to edit it</p>
        <Share listId={state.listId} />
        <p>
          A <a href="https://todomvc.com">TodoMVC</a> app, kept in tasktier
        </p>
      </footer>
    </>
  );
}
