/**
 * The tasktier API contract. These TypeBox schemas are the single source for request
 * validation, response serialization, the OpenAPI document and the TypeScript types.
 * Keep them inline (no $ref): see stack notes on TypeBox + $ref resolution.
 */
import { type Static, Type } from 'typebox';
import { LIST_ID_PATTERN, TITLE_MAX_LENGTH, TITLE_PATTERN, TODO_ID_PATTERN } from './constants.ts';

export * from './constants.ts';

export const ListIdParams = Type.Object({
  listId: Type.String({ pattern: LIST_ID_PATTERN, description: 'The list id (22 URL-safe characters).' }),
});
export type ListIdParams = Static<typeof ListIdParams>;

export const TodoParams = Type.Object({
  listId: Type.String({ pattern: LIST_ID_PATTERN, description: 'The list id (22 URL-safe characters).' }),
  todoId: Type.String({ pattern: TODO_ID_PATTERN, description: 'The todo id (16 URL-safe characters).' }),
});
export type TodoParams = Static<typeof TodoParams>;

const Title = Type.String({
  minLength: 1,
  maxLength: TITLE_MAX_LENGTH,
  pattern: TITLE_PATTERN,
  description: `What to do: 1 to ${TITLE_MAX_LENGTH} characters, not only spaces, no control characters.`,
});
const Completed = Type.Boolean({ description: 'Done or not.' });
const Order = Type.Number({ description: 'Sort key: todos are listed by order, then by creation.' });
const Timestamp = Type.String({ format: 'date-time' });

export const Todo = Type.Object({
  id: Type.String({ pattern: TODO_ID_PATTERN }),
  title: Type.String(),
  completed: Type.Boolean(),
  order: Type.Optional(Type.Number()),
  url: Type.String({ format: 'uri', description: 'The absolute URL of this todo.' }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Todo = Static<typeof Todo>;

export const TodoArray = Type.Array(Todo);

export const NewTodo = Type.Object(
  { title: Title, completed: Type.Optional(Completed), order: Type.Optional(Order) },
  { additionalProperties: false },
);
export type NewTodo = Static<typeof NewTodo>;

export const TodoPatch = Type.Object(
  { title: Type.Optional(Title), completed: Type.Optional(Completed), order: Type.Optional(Order) },
  { additionalProperties: false, minProperties: 1 },
);
export type TodoPatch = Static<typeof TodoPatch>;

export const TodoList = Type.Object({
  id: Type.String({ pattern: LIST_ID_PATTERN }),
  url: Type.String({ format: 'uri', description: 'The absolute URL of this list.' }),
  todosUrl: Type.String({ format: 'uri', description: 'The Todo-Backend root of this list.' }),
  createdAt: Timestamp,
  todoCount: Type.Integer({ minimum: 0 }),
});
export type TodoList = Static<typeof TodoList>;

export const CreatedList = Type.Object({
  id: Type.String({ pattern: LIST_ID_PATTERN }),
  url: Type.String({ format: 'uri' }),
  todosUrl: Type.String({ format: 'uri' }),
  createdAt: Timestamp,
});
export type CreatedList = Static<typeof CreatedList>;

/** RFC 9457 problem details: every error response has this shape. */
export const Problem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  instance: Type.Optional(Type.String()),
});
export type Problem = Static<typeof Problem>;

export const HealthStatus = Type.Object({ status: Type.String() });
export const VersionInfo = Type.Object({
  service: Type.String(),
  version: Type.String(),
});
