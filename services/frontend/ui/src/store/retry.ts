import type { ApiError } from '../api.ts';

/** After a failed request, retry after these delays (ms), the last one repeating. */
const RETRY_DELAYS = [500, 1000, 2000, 4000, 8000];

/** The nth retry delay, with jitter so that many browsers do not all come back at the same instant. */
export function retryDelay(attempt: number): number {
  const base = RETRY_DELAYS[Math.min(attempt, RETRY_DELAYS.length - 1)] ?? 8000;
  return jitter(base);
}

/**
 * How long to wait after an answer with Retry-After: at least that, plus jitter so that every
 * browser refused at once does not come back at the same instant; never less than `backoff`.
 */
export function waitAfter(error: ApiError, backoff: number): number {
  if (error.retryAfter === undefined) return backoff;
  const ms = error.retryAfter * 1000;
  return Math.max(backoff, Math.round(ms + Math.random() * (1000 + ms * 0.1)));
}

/** `ms`, give or take a quarter. */
export function jitter(ms: number): number {
  return Math.round(ms * (0.75 + Math.random() * 0.5));
}

/**
 * The time before which the server asked not to be asked again (its Retry-After, plus jitter),
 * for one kind of request. Whatever wants the request meanwhile (a change event, a write, a
 * reconnection) only marks it wanted; the timer sends it when the wait is over.
 */
export class NotBefore {
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** True until the wait is over. */
  get waiting(): boolean {
    return this.timer !== undefined;
  }

  /** Waits `ms`, then runs `then`. */
  start(ms: number, then: () => void): void {
    this.stop();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      then();
    }, ms);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
