// This browser's changes not yet confirmed by the server (the store's pending operations), and how
// each shows over the server's snapshot.

/** A todo as shown: the server's, with this browser's unconfirmed changes applied on top. */
export interface ViewTodo {
  id: string;
  /** Stable across a new todo's temporary id and its real one, so the element is kept. */
  key: string;
  title: string;
  completed: boolean;
}

export type Op =
  | { kind: 'add'; tempId: string; title: string; realId?: string }
  | { kind: 'update'; id: string; patch: { title?: string; completed?: boolean } }
  | { kind: 'remove'; ids: string[] }
  | { kind: 'set-completed'; ids: string[]; completed: boolean };

/** Applies one change to a list of todos; applying it again changes nothing (it may be confirmed). */
export function apply(todos: ViewTodo[], op: Op): ViewTodo[] {
  switch (op.kind) {
    case 'add': {
      const id = op.realId ?? op.tempId;
      if (todos.some((todo) => todo.id === id)) return todos;
      return [...todos, { id, key: op.tempId, title: op.title, completed: false }];
    }
    case 'update':
      return todos.map((todo) => (matches(todo, op.id) ? { ...todo, ...op.patch } : todo));
    case 'remove':
      return todos.filter((todo) => !op.ids.some((id) => matches(todo, id)));
    case 'set-completed':
      return todos.map((todo) =>
        op.ids.some((id) => matches(todo, id)) ? { ...todo, completed: op.completed } : todo,
      );
  }
}

/** An id given by the UI may be a temporary one whose todo now shows under its real id. */
function matches(todo: ViewTodo, id: string): boolean {
  return todo.id === id || todo.key === id;
}
