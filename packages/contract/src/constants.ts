/**
 * The plain part of the contract: constants, the live-sync event shapes and their parser. No
 * TypeBox and no imports, so the browser bundle takes it (`@tasktier/contract/constants`) without
 * pulling in the schema library; the main entry re-exports all of it.
 */

/** 16 random bytes, base64url: 128 bits, unguessable, safe in a URL path. */
export const LIST_ID_PATTERN = '^[A-Za-z0-9_-]{22}$';
/** 12 random bytes, base64url. Todo ids need not be secret (the list id guards them). */
export const TODO_ID_PATTERN = '^[A-Za-z0-9_-]{16}$';

export const TITLE_MAX_LENGTH = 1000;
export const MAX_TODOS_PER_LIST = 10_000;
/** Request bodies larger than this are refused with 413. */
export const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * No control characters in a title: C0 (U+0000-U+001F: line breaks, tabs, NUL...), DEL (U+007F)
 * and C1 (U+0080-U+009F). They have no place in a one-line title, and JSON stores each as a 6-byte
 * escape. Ajv compiles patterns with the `u` flag, where these escapes are code points.
 */
export const TITLE_PATTERN = '^[^\\u0000-\\u001F\\u007F-\\u009F]*$';
/** What a refused title is told (Ajv's own message would only repeat the pattern). */
export const TITLE_PATTERN_MESSAGE =
  'must not contain control characters (line breaks, tabs and others in U+0000-U+001F, U+007F-U+009F)';

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

/**
 * A change event as the scripts publish it (the `ready` event parses too: it has the same
 * `version` and `revision`); undefined if it is not one (nothing else publishes on the channel,
 * but a bad message must not take a stream down).
 */
export function parseChangeEvent(message: string): ChangeEvent | undefined {
  try {
    const event = JSON.parse(message) as Partial<ChangeEvent> | null;
    if (typeof event?.revision !== 'string' || typeof event.version !== 'number') return undefined;
    return event as ChangeEvent;
  } catch {
    return undefined;
  }
}
