import { type ApiError, errorFrom, unreachable } from './api.ts';

export interface EventStreamHandlers {
  /** One event (`ready`, `change`, …) and its data. */
  onEvent(type: string, data: string): void;
  /**
   * The stream was open and ended (a server that drains ends streams on purpose) or broke off.
   * `retryMs` is the server's `retry:` hint, if it gave one.
   */
  onEnd(retryMs: number | undefined): void;
  /** The server refused the stream (its status and Retry-After are in the error) or was not reached. */
  onRefused(error: ApiError): void;
}

/**
 * A Server-Sent Events stream read with fetch. EventSource hides why a server refused a stream
 * (429 or 503 with Retry-After look like any failure to it) and then retries on its own schedule;
 * this one reports the answer, and leaves reconnecting to the caller. Returns a function that
 * closes the stream; no handler is called after that.
 */
export function openEventStream(url: string, handlers: EventStreamHandlers): () => void {
  const controller = new AbortController();
  let closed = false;

  void (async () => {
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { accept: 'text/event-stream' },
        cache: 'no-store',
        signal: controller.signal,
      });
    } catch {
      if (!closed) handlers.onRefused(unreachable());
      return;
    }
    if (!response.ok || !response.body) {
      const error = await errorFrom(response);
      if (!closed) handlers.onRefused(error);
      return;
    }
    const parser = new EventParser((type, data) => {
      if (!closed) handlers.onEvent(type, data);
    });
    try {
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
      }
    } catch {
      // Broke off (network, proxy) or closed by us: both end the stream.
    }
    if (!closed) handlers.onEnd(parser.retryMs);
  })();

  return () => {
    closed = true;
    controller.abort();
  };
}

/** The text/event-stream format (HTML's "event stream interpretation"), minus `id`, which we do not use. */
export class EventParser {
  retryMs: number | undefined;
  private buffer = '';
  private type = '';
  private data: string[] = [];

  constructor(private readonly dispatch: (type: string, data: string) => void) {}

  push(text: string): void {
    this.buffer += text;
    for (;;) {
      const end = /\r\n|\r|\n/.exec(this.buffer);
      // A CR at the end may be the first half of a CRLF still on its way.
      if (!end || (end[0] === '\r' && end.index === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, end.index);
      this.buffer = this.buffer.slice(end.index + end[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.dispatch(this.type || 'message', this.data.join('\n'));
      this.type = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return; // a comment: the server's heartbeat
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
  }
}
