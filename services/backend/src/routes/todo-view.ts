import type { Todo } from '@tasktier/contract';
import type { StoredTodo } from '../store/todo-store.ts';

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
