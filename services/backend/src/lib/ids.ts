import { randomBytes } from 'node:crypto';
import { randomId } from '@tasktier/service-kit';

/** 128 random bits: a list id cannot be guessed or enumerated, so its link is its key. */
export const newListId = (): string => randomBytes(16).toString('base64url');

/** 96 random bits: unique within a list without coordination between replicas. */
export const newTodoId = (): string => randomId(12);

/**
 * 64 random bits: the token of one write, which makes a list revision and a todo ETag name one
 * state only, even when Redis goes back in time (a restore, lost writes) and reuses a version.
 */
export const newToken = (): string => randomId(8);
