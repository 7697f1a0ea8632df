import type { Todo } from '@tasktier/contract';
import type { StoredTodo } from './store.ts';

/** The API view of a stored todo: drops internal fields, adds its absolute URL. */
export function todoView(stored: StoredTodo, listUrl: string): Todo {
  const todo: Todo = {
    id: stored.id,
    title: stored.title,
    completed: stored.completed,
    url: `${listUrl}/todos/${stored.id}`,
    createdAt: stored.createdAt,
    updatedAt: stored.updatedAt,
  };
  if (stored.order !== undefined) todo.order = stored.order;
  return todo;
}

/** Sorts as the API promises: by `order` (todos without one last), then creation. */
function compareTodos(a: StoredTodo, b: StoredTodo): number {
  const ao = a.order ?? Number.POSITIVE_INFINITY;
  const bo = b.order ?? Number.POSITIVE_INFINITY;
  if (ao !== bo) return ao < bo ? -1 : 1;
  return a.seq - b.seq;
}

/** Stored todos (as the store reads them: JSON rows, unsorted) in the API's order. */
export function parseTodos(rows: readonly string[]): StoredTodo[] {
  const todos = rows.map((row) => JSON.parse(row) as StoredTodo);
  return todos.sort(compareTodos);
}
