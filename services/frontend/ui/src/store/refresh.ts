import type { Todo } from '@tasktier/contract';
import * as api from '../api.ts';
import { ApiError } from '../api.ts';
import { NotBefore, retryDelay, waitAfter } from './retry.ts';

export interface RefreshHandlers {
  /** The list as the server has it; `started` counts the refreshes started, this one included. */
  loaded(todos: Todo[], revision: string | undefined, started: number): void;
  /** The list does not exist (404): nothing more is fetched. */
  notFound(): void;
  /** The fetch failed; it is retried after a back-off (or the server's Retry-After). */
  failed(error: unknown): void;
}

/**
 * Fetches the list when asked: if one fetch is under way, one more runs after it, so a burst of
 * requests costs one or two. A failure is retried with back-off; after a refusal with Retry-After,
 * nothing asks before the wait is over.
 */
export class RefreshLoop {
  private running = false;
  private wanted = false;
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set by a refusal with Retry-After: until then a refresh is only marked wanted. */
  private readonly notBefore = new NotBefore();
  private count = 0;

  constructor(
    private readonly listId: () => string | undefined,
    private readonly handlers: RefreshHandlers,
  ) {}

  /** The number of refreshes started so far. */
  get started(): number {
    return this.count;
  }

  /** Fetches the list; if one fetch is under way, one more runs after it (coalescing bursts). */
  request(): void {
    if (this.listId() === undefined) return;
    this.wanted = true;
    // After a refusal with Retry-After, nothing asks before the wait is over: its timer does.
    if (this.running || this.notBefore.waiting) return;
    this.running = true;
    void this.loop();
  }

  stop(): void {
    clearTimeout(this.retryTimer);
    this.notBefore.stop();
  }

  private async loop(): Promise<void> {
    clearTimeout(this.retryTimer);
    const listId = this.listId();
    while (this.wanted && listId) {
      this.wanted = false;
      const started = ++this.count;
      try {
        const { todos, revision } = await api.getTodos(listId);
        this.failures = 0;
        this.handlers.loaded(todos, revision, started);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          this.handlers.notFound();
          break;
        }
        const backoff = retryDelay(this.failures++);
        this.handlers.failed(error);
        if (error instanceof ApiError && error.retryAfter !== undefined) {
          this.notBefore.start(waitAfter(error, backoff), () => this.request());
        } else {
          // Not a refusal: a change event or a write that goes through may try sooner.
          this.retryTimer = setTimeout(() => this.request(), backoff);
        }
        break;
      }
    }
    this.running = false;
  }
}
