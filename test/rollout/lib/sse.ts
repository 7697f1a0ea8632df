import { type ClientRequest, request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { errorCode } from './load.ts';

/**
 * A live-sync client as the UI is one (an EventSource plus refetches), through the Ingress.
 * It knows a list "up to version N" when it has seen every change up to N, by change events or by
 * refetching the list (whose ETag starts with its version). On a gap in the versions, or a `ready` event
 * after a reconnect with a newer version than it knows, it refetches, as the UI does. When a
 * stream ends (a replica drained it) it reconnects after the server's `retry:` delay, like a
 * browser's EventSource, sending Last-Event-ID.
 */
export class SseClient {
  /** Every version up to this one has been seen (event or refetch). */
  known = 0;
  connects = 0;
  /** Streams that ended (the server closed them, e.g. at the end of a drain). */
  ended = 0;
  /** Connection attempts that failed (error, or an answer other than 200 text/event-stream). */
  connectFailures: string[] = [];
  changeEvents = 0;
  refetches = 0;
  refetchFailures: string[] = [];
  gaps = 0;
  private retryMs = 2000;
  private running = false;
  private current?: ClientRequest;
  private loop?: Promise<void>;

  constructor(
    private readonly origin: string,
    readonly listId: string,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.current?.destroy();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      await this.connect();
      if (!this.running) break;
      await delay(this.retryMs);
    }
  }

  private connect(): Promise<void> {
    return new Promise<void>((resolve) => {
      const url = new URL(`/api/lists/${this.listId}/events`, this.origin);
      const req = request(url, {
        headers: { accept: 'text/event-stream', 'last-event-id': String(this.known) },
        agent: false,
      });
      this.current = req;
      let settled = false;
      const done = () => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      req.on('error', (error) => {
        if (this.running) this.connectFailures.push(errorCode(error));
        done();
      });
      req.on('response', (response) => {
        const type = String(response.headers['content-type'] ?? '');
        if (response.statusCode !== 200 || !type.startsWith('text/event-stream')) {
          this.connectFailures.push(`HTTP ${response.statusCode} ${type}`);
          response.resume();
          response.on('end', done);
          return;
        }
        this.connects++;
        response.setEncoding('utf8');
        let buffer = '';
        response.on('data', (chunk: string) => {
          buffer += chunk;
          let boundary = buffer.indexOf('\n\n');
          while (boundary !== -1) {
            this.onMessage(buffer.slice(0, boundary));
            buffer = buffer.slice(boundary + 2);
            boundary = buffer.indexOf('\n\n');
          }
        });
        response.on('end', () => {
          if (this.running) this.ended++;
          done();
        });
        response.on('error', () => {
          if (this.running) this.ended++;
          done();
        });
        response.on('close', done);
      });
      req.end();
    });
  }

  private onMessage(block: string): void {
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data += value;
      else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    if (!data) return;
    const version = (JSON.parse(data) as { version: number }).version;
    if (event === 'ready') {
      if (version > this.known) void this.refetch();
    } else if (event === 'change') {
      this.changeEvents++;
      if (version === this.known + 1) this.known = version;
      else if (version > this.known + 1) {
        this.gaps++;
        void this.refetch();
      }
    }
  }

  private refetching?: Promise<void>;
  private refetchWanted = false;

  /**
   * GET the list (as the UI does after a gap); its ETag starts with the version it reflects. A
   * refetch asked for while one is under way runs once more after it, as the UI coalesces them:
   * the one under way may have been answered before the change that asked for the next.
   */
  private refetch(): Promise<void> {
    this.refetchWanted = true;
    this.refetching ??= (async () => {
      try {
        while (this.refetchWanted) {
          this.refetchWanted = false;
          await this.refetchOnce();
        }
      } finally {
        this.refetching = undefined;
      }
    })();
    return this.refetching;
  }

  private async refetchOnce(): Promise<void> {
    try {
      this.refetches++;
      const response = await fetch(new URL(`/api/lists/${this.listId}/todos`, this.origin));
      await response.arrayBuffer();
      const etag = response.headers.get('etag')?.replaceAll('"', '');
      if (response.status !== 200 || !etag) {
        this.refetchFailures.push(`HTTP ${response.status}`);
        return;
      }
      // The ETag is the list's revision, `<version>.<token>`; nothing rolls Redis back here.
      this.known = Math.max(this.known, Number.parseInt(etag, 10));
    } catch (error) {
      this.refetchFailures.push(errorCode(error));
    }
  }
}
