import { ApiError } from '../api.ts';

/** What the page says above the list; one at a time, the most pressing first. */
export type Notice =
  | { kind: 'offline' }
  /** Refused for now (rate limited, or the server at capacity): what happened and how long to wait. */
  | { kind: 'limited'; message: string }
  | { kind: 'error'; message: string }
  | { kind: 'not-found' }
  | undefined;

const ERROR_NOTICE_MS = 8000;

/**
 * The notices and their timers: an error shows for a while, a refusal until the wait the server
 * asked for is over, "offline" while requests fail or the live stream is down (after a grace
 * period). `changed` is called whenever what shows may have changed.
 */
export class Notices {
  private listGone = false;
  private failing = false;
  private streamOffline = false;
  private offlineTimer: ReturnType<typeof setTimeout> | undefined;
  private error: string | undefined;
  private errorTimer: ReturnType<typeof setTimeout> | undefined;
  private limited: string | undefined;
  private limitedTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly changed: () => void) {}

  /** The one notice to show. */
  get notice(): Notice {
    if (this.listGone) return { kind: 'not-found' };
    if (this.limited) return { kind: 'limited', message: this.limited };
    if (this.failing || this.streamOffline) return { kind: 'offline' };
    if (this.error) return { kind: 'error', message: this.error };
    return undefined;
  }

  /** The list does not exist (the server answered 404). */
  get notFound(): boolean {
    return this.listGone;
  }

  /** Requests fail because the server is unavailable (unreachable, 502, 503, 504). */
  get requestsFailing(): boolean {
    return this.failing;
  }

  /** The list does not exist: says so, instead of anything else. */
  listNotFound(): void {
    this.listGone = true;
    this.changed();
  }

  /** The list was read after all; the caller shows it. */
  listFound(): void {
    this.listGone = false;
  }

  /** A request failed: says why, or "offline" while the server is unavailable. */
  failed(error: unknown, what: string): void {
    if (error instanceof ApiError && error.limited) {
      this.setLimited(error, (s) => `try again in ${s}. ${what}.`);
    } else if (error instanceof ApiError && error.unavailable) {
      this.failing = true;
      this.changed();
    } else {
      this.setError(`${what}: ${describe(error)}`);
    }
  }

  /**
   * Not "offline": with no list there is nothing to reconnect to and no retry that would clear
   * that notice, so say what happened once; the todo is back in the input.
   */
  notCreated(title: string, reason: unknown): void {
    const what = `Your list could not be created, so “${title}” was not saved`;
    if (reason instanceof ApiError && reason.limited) this.setLimited(reason, (s) => `try again in ${s}. ${what}.`);
    else this.setError(`${what}: ${describe(reason)}`);
  }

  /** Refused for now: says so with the wait the server asked for, until that wait is over. */
  setLimited(error: ApiError, then: (wait: string) => string): void {
    const seconds = error.retryAfter ?? 0;
    const why = error.status === 429 ? 'Too many requests from your network' : 'The server is busy';
    clearTimeout(this.limitedTimer);
    this.limited = `${why}: ${then(`${seconds} s`)}`;
    this.limitedTimer = setTimeout(() => {
      this.limited = undefined;
      this.changed();
    }, seconds * 1000);
    this.changed();
  }

  /** A request went through: true if requests were failing until now (anything may have changed meanwhile). */
  requestsOk(): boolean {
    const wasFailing = this.failing;
    this.failing = false;
    return wasFailing;
  }

  setStreamOffline(offline: boolean): void {
    clearTimeout(this.offlineTimer);
    this.streamOffline = offline;
    this.changed();
  }

  /** The stream is down: "offline" after `ms`, unless `stillDown` says it is back by then. */
  streamOfflineAfter(ms: number, stillDown: () => boolean): void {
    clearTimeout(this.offlineTimer);
    this.offlineTimer = setTimeout(() => {
      if (stillDown()) this.setStreamOffline(true);
    }, ms);
  }

  setError(message: string | undefined): void {
    clearTimeout(this.errorTimer);
    this.error = message;
    if (message) this.errorTimer = setTimeout(() => this.setError(undefined), ERROR_NOTICE_MS);
    this.changed();
  }

  stop(): void {
    for (const timer of [this.offlineTimer, this.errorTimer, this.limitedTimer]) clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
