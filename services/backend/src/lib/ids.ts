import { randomBytes } from 'node:crypto';

/** 128 random bits: a list id cannot be guessed or enumerated, so its link is its key. */
export const newListId = (): string => randomBytes(16).toString('base64url');

/** 96 random bits: unique within a list without coordination between replicas. */
export const newTodoId = (): string => randomBytes(12).toString('base64url');

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** An incoming X-Request-Id is kept only if it is short and plain; otherwise a fresh one. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomBytes(12).toString('base64url');
}
