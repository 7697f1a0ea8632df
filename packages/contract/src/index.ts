/**
 * The tasktier API contract. These TypeBox schemas are the single source for request
 * validation, response serialization, the OpenAPI document and the TypeScript types.
 * Keep them inline (no $ref): see stack notes on TypeBox + $ref resolution.
 */
import { type Static, Type } from 'typebox';

/** 16 random bytes, base64url: 128 bits, unguessable, safe in a URL path. */
export const LIST_ID_PATTERN = '^[A-Za-z0-9_-]{22}$';
/** 12 random bytes, base64url. Todo ids need not be secret (the list id guards them). */
export const TODO_ID_PATTERN = '^[A-Za-z0-9_-]{16}$';

export const TITLE_MAX_LENGTH = 1000;
export const MAX_TODOS_PER_LIST = 10_000;
/** Request bodies larger than this are refused with 413. */
export const BODY_LIMIT_BYTES = 64 * 1024;

export const ListIdParams = Type.Object({
  listId: Type.String({ pattern: LIST_ID_PATTERN, description: 'The list id (22 URL-safe characters).' }),
});
export type ListIdParams = Static<typeof ListIdParams>;

export const TodoParams = Type.Object({
  listId: Type.String({ pattern: LIST_ID_PATTERN, description: 'The list id (22 URL-safe characters).' }),
  todoId: Type.String({ pattern: TODO_ID_PATTERN, description: 'The todo id (16 URL-safe characters).' }),
});
export type TodoParams = Static<typeof TodoParams>;

/**
 * No control characters in a title: C0 (U+0000-U+001F: line breaks, tabs, NUL...), DEL (U+007F)
 * and C1 (U+0080-U+009F). They have no place in a one-line title, and JSON stores each as a 6-byte
 * escape. Ajv compiles patterns with the `u` flag, where these escapes are code points.
 */
export const TITLE_PATTERN = '^[^\\u0000-\\u001F\\u007F-\\u009F]*$';
/** What a refused title is told (Ajv's own message would only repeat the pattern). */
export const TITLE_PATTERN_MESSAGE =
  'must not contain control characters (line breaks, tabs and others in U+0000-U+001F, U+007F-U+009F)';

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

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** What a write publishes on Redis pub/sub and the events stream forwards to browsers. */
export const CHANGE_TYPES = ['todo.created', 'todo.updated', 'todo.deleted', 'todos.cleared'] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

export interface ChangeEvent {
  type: ChangeType;
  /**
   * The list's version after this change. It grows with every write, but it can go back when Redis
   * does (a restored backup, writes lost in a crash): compare `revision`, not this.
   */
  version: number;
  /**
   * `<version>.<token>`: names exactly one state of the list (the token is random per write). The
   * ETag of GET /todos and the SSE `id:`. A client whose revision differs from this one refetches.
   */
  revision: string;
  todoId?: string;
}

/** The first event on every stream: the list's current revision, so a client knows whether to resync. */
export interface ReadyEvent {
  version: number;
  revision: string;
}

export const HealthStatus = Type.Object({ status: Type.String() });
export const VersionInfo = Type.Object({
  service: Type.String(),
  version: Type.String(),
});
