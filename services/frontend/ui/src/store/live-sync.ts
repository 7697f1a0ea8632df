import { parseChangeEvent } from '@tasktier/contract/constants';
import * as api from '../api.ts';
import { openEventStream } from '../event-stream.ts';
import type { Notices } from './notices.ts';
import { jitter, retryDelay, waitAfter } from './retry.ts';

/** A stream that drops is usually back within its `retry:` delay; only then is it news. */
const OFFLINE_GRACE_MS = 3000;
/** Reconnect delay after a stream ended, when the server gave no `retry:` hint (EventSource's usual). */
const STREAM_RETRY_MS = 3000;

export interface LiveSyncHandlers {
  /** (Re)connected: the list's revision now (undefined from a backend that sends none). */
  ready(revision: string | undefined): void;
  /** The list changed (by anyone): its revision now (undefined from a backend that sends none). */
  changed(revision: string | undefined): void;
}

/**
 * The list's event stream, kept open: reconnects after the server's `retry:` hint when it ends,
 * with back-off (or the server's Retry-After) when it is refused, and tells the notices when the
 * stream is down, over a limit, or the list does not exist.
 */
export class LiveSync {
  private closeStream: (() => void) | undefined;
  private reconnects = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** True while a stream is open and has said it is ready. */
  up = false;

  constructor(
    private readonly listId: () => string | undefined,
    private readonly notices: Notices,
    private readonly handlers: LiveSyncHandlers,
  ) {}

  connect(): void {
    const listId = this.listId();
    if (listId === undefined || this.notices.notFound) return;
    this.closeStream?.();
    this.closeStream = openEventStream(api.eventsUrl(listId), {
      onEvent: (type, data) => {
        if (type === 'ready') this.onReady(data);
        else if (type === 'change') this.handlers.changed(revisionOf(data));
      },
      onEnd: (retryMs) => {
        this.up = false;
        if (this.notices.notFound) return;
        // A server that drains ends streams on purpose, and we are back within its `retry:`
        // delay; only say something if it takes longer than that.
        this.notices.streamOfflineAfter(OFFLINE_GRACE_MS, () => !this.up);
        this.reconnectTimer = setTimeout(() => this.connect(), retryMs ?? jitter(STREAM_RETRY_MS));
      },
      onRefused: (error) => {
        this.up = false;
        if (error.status === 404) {
          this.notices.listNotFound();
          return;
        }
        // Refused (e.g. 502 while the backend is down, 429 over a limit): that is news at once.
        if (error.limited) this.notices.setLimited(error, (s) => `live updates resume in ${s}.`);
        else this.notices.setStreamOffline(true);
        this.reconnectTimer = setTimeout(() => this.connect(), waitAfter(error, retryDelay(this.reconnects++)));
      },
    });
  }

  close(): void {
    this.closeStream?.();
  }

  stop(): void {
    this.closeStream?.();
    clearTimeout(this.reconnectTimer);
  }

  private onReady(data: string): void {
    this.reconnects = 0;
    this.up = true;
    this.notices.setStreamOffline(false);
    this.handlers.ready(revisionOf(data));
  }
}

/** The `revision` of a ready or change event (the ready event, `{version, revision}`, parses as a change event does). */
function revisionOf(data: string): string | undefined {
  return parseChangeEvent(data)?.revision;
}
