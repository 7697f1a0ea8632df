import { TITLE_MAX_LENGTH } from '@tasktier/contract/constants';
import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { ListStore, Notice, ViewTodo } from './store/list-store.ts';
import { cleanTitle } from './title.ts';

/**
 * What the input holds, then the todos given back to it (not saved), as one text: the input holds
 * one line and none of it may be lost. Appended, in the order they were typed: what it holds is
 * either a todo given back earlier (typed before these) or being typed (which must not move under
 * the caret). Separated by "; ", which reads as a list to edit apart, or to send as one todo.
 */
export function givenBack(holds: string, titles: readonly string[]): string {
  return [holds.trim(), ...titles].filter(Boolean).join('; ');
}

export type Filter = 'all' | 'active' | 'completed';

const FILTERS: Array<{ filter: Filter; href: string; label: string }> = [
  { filter: 'all', href: '#/', label: 'All' },
  { filter: 'active', href: '#/active', label: 'Active' },
  { filter: 'completed', href: '#/completed', label: 'Completed' },
];

function filterFromHash(hash: string): Filter {
  if (hash === '#/active') return 'active';
  if (hash === '#/completed') return 'completed';
  return 'all';
}

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

function useFilter(): Filter {
  const [filter, setFilter] = useState(() => filterFromHash(location.hash));
  useEffect(() => {
    const onHash = () => setFilter(filterFromHash(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return filter;
}

export function App({ store }: { store: ListStore }) {
  const state = useStore(store);
  const filter = useFilter();
  const [editing, setEditing] = useState<string | undefined>();
  const newTodo = useRef<HTMLInputElement>(null);

  useEffect(() => newTodo.current?.focus(), []);

  // A todo that was not saved (refused, or its list could not be created) goes back where it was
  // typed, after what the input holds, so pressing Enter tries again and nothing is lost.
  useLayoutEffect(() => {
    const input = newTodo.current;
    if (state.returned.length === 0 || !input) return;
    input.value = givenBack(input.value, store.takeReturned());
  }, [state.returned]);

  if (state.notice?.kind === 'not-found') return <NotFound />;

  const todos = state.todos;
  const active = todos.filter((todo) => !todo.completed).length;
  const completed = todos.length - active;
  const shown = todos.filter((todo) =>
    filter === 'all' ? true : filter === 'active' ? !todo.completed : todo.completed,
  );

  const onNewTodoKey = (event: JSX.TargetedKeyboardEvent<HTMLInputElement>) => {
    if (event.key !== 'Enter' || event.isComposing) return;
    const input = event.currentTarget;
    const title = cleanTitle(input.value);
    if (!title) return;
    store.add(title);
    input.value = '';
  };

  return (
    <>
      <Banner notice={state.notice} onDismiss={() => store.dismissError()} />
      <section class="todoapp" aria-busy={!state.loaded}>
        <header class="header">
          <h1>todos</h1>
          <input
            ref={newTodo}
            class="new-todo"
            placeholder="What needs to be done?"
            aria-label="New todo: type it, then press Enter"
            maxLength={TITLE_MAX_LENGTH}
            onKeyDown={onNewTodoKey}
          />
        </header>
        {todos.length > 0 && (
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
                  onGone={() => newTodo.current?.focus()}
                />
              ))}
            </ul>
          </section>
        )}
        {todos.length > 0 && (
          <footer class="footer">
            <span class="todo-count" aria-live="polite">
              <strong>{active}</strong> {active === 1 ? 'item' : 'items'} left
            </span>
            <ul class="filters" aria-label="Show">
              {FILTERS.map((f) => (
                <li key={f.filter}>
                  <a
                    href={f.href}
                    class={filter === f.filter ? 'selected' : undefined}
                    aria-current={filter === f.filter ? 'page' : undefined}
                  >
                    {f.label}
                  </a>
                </li>
              ))}
            </ul>
            {completed > 0 && (
              <button type="button" class="clear-completed" onClick={() => store.clearCompleted()}>
                Clear completed
              </button>
            )}
          </footer>
        )}
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

interface ItemProps {
  todo: ViewTodo;
  store: ListStore;
  editing: boolean;
  onEdit(on: boolean): void;
  onGone(): void;
}

function Item({ todo, store, editing, onEdit, onGone }: ItemProps) {
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

function Banner({ notice, onDismiss }: { notice: Notice; onDismiss(): void }) {
  // The live region is always in the page, so screen readers announce what appears in it.
  return (
    <div class="banner-region" role="status" aria-live="polite">
      {notice?.kind === 'limited' && <p class="banner banner-limited">{notice.message}</p>}
      {notice?.kind === 'offline' && (
        <p class="banner banner-offline">
          Cannot reach the server. Showing the list as last seen; changes are not saved until it is back. Reconnecting…
        </p>
      )}
      {notice?.kind === 'error' && (
        <p class="banner banner-error">
          {notice.message}
          <button type="button" class="banner-dismiss" aria-label="Dismiss this message" onClick={onDismiss}>
            ×
          </button>
        </p>
      )}
    </div>
  );
}

function Share({ listId }: { listId: string | undefined }) {
  if (listId === undefined) return <p class="share">Add a todo and this list gets a link to share.</p>;
  return <ShareLink listId={listId} />;
}

function ShareLink({ listId }: { listId: string }) {
  const url = `${location.origin}/l/${listId}`;
  const [copied, setCopied] = useState<string | undefined>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(url);
      setCopied('Link copied');
    } catch {
      setCopied('Copy the link above');
    }
    setTimeout(() => setCopied(undefined), 3000);
  };
  return (
    <p class="share">
      Share this list:{' '}
      <a href={url} class="share-link">
        {url}
      </a>{' '}
      <button type="button" class="share-copy" onClick={copy}>
        Copy link
      </button>
      <span class="share-status" aria-live="polite">
        {copied}
      </span>
    </p>
  );
}

export function NotFound() {
  return (
    <section class="todoapp not-found">
      <header class="header">
        <h1>todos</h1>
      </header>
      <div class="message" role="alert">
        <p>This list does not exist. The link may be mistyped or incomplete.</p>
        <p>
          <a href="/">Start a new list</a>
        </p>
      </div>
    </section>
  );
}
