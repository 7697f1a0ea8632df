import { randomBytes } from 'node:crypto';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// Random bytes are drawn from the OS in blocks: one randomBytes() call per request cost ~8% of the
// backend's CPU on the GET path (bench/profile.ts, docs/performance.md). The ids stay as random.
const POOL_SIZE = 12 * 1024;
let pool = randomBytes(POOL_SIZE);
let offset = 0;

/** `bytes` random bytes (at most 64) as base64url, from a pool refilled from the OS. */
export function randomId(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return id;
}

/** `bytes` random bytes (at most 64) as lowercase hex (trace and span ids), from the same pool. */
export function randomHex(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return id;
}

/**
 * An incoming X-Request-Id (from a client, the Ingress or the frontend) is kept only if it is
 * short and plain, so it is safe in logs and headers; otherwise the service makes its own.
 */
function acceptedRequestId(header: string | string[] | undefined): string | undefined {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : undefined;
}

/** The incoming X-Request-Id if acceptable, otherwise a fresh one (96 random bits, 16 characters). */
export function requestIdFrom(header: string | string[] | undefined): string {
  return acceptedRequestId(header) ?? randomId(12);
}
