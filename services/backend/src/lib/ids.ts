import { randomBytes } from 'node:crypto';
import { acceptedRequestId } from '@tasktier/service-kit';

// Random bytes are drawn from the OS in blocks: one randomBytes() call per request cost ~8% of the
// backend's CPU on the GET path (bench/profile.ts, docs/performance.md). The ids stay as random.
const POOL_SIZE = 12 * 1024;
let pool = randomBytes(POOL_SIZE);
let offset = 0;

/** `bytes` random bytes (at most 64) as base64url, from the pool. */
function randomId(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return id;
}

/** 128 random bits: a list id cannot be guessed or enumerated, so its link is its key. */
export const newListId = (): string => randomBytes(16).toString('base64url');

/** 96 random bits: unique within a list without coordination between replicas. */
export const newTodoId = (): string => randomId(12);

/**
 * 64 random bits: the token of one write, which makes a list revision and a todo ETag name one
 * state only, even when Redis goes back in time (a restore, lost writes) and reuses a version.
 */
export const newToken = (): string => randomId(8);

/** The incoming X-Request-Id if acceptable (service-kit's rule), otherwise a fresh one (96 random bits). */
export function requestIdFrom(header: string | string[] | undefined): string {
  return acceptedRequestId(header) ?? randomId(12);
}
