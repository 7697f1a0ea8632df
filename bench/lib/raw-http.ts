import { connect, type Socket } from 'node:net';

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * A minimal HTTP/1.1 keep-alive client connection: one request at a time, the response read with
 * as little work as possible (status line, Content-Length or chunked framing; the body is counted,
 * not kept). The fixed-rate load generator runs on these so that it costs little per request,
 * instead of a full HTTP client's much larger share of the two cores.
 */
export class RawConnection {
  private readonly socket: Socket;
  private pending: Buffer = Buffer.alloc(0);
  private state: 'idle' | 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'trailer' = 'idle';
  private remaining = 0;
  private status = 0;
  private onDone: ((status: number) => void) | undefined;
  private onFail: ((error: Error) => void) | undefined;
  readonly ready: Promise<void>;

  constructor(
    port: number,
    private readonly host = '127.0.0.1',
  ) {
    // Every read lands in this connection's own buffer instead of a new Buffer per read: at
    // 10,000+ responses a second those (external memory) made V8 run a full mark-compact in the
    // load generator about twice a second, and its pauses showed up as the servers' p99.
    const readBuffer = Buffer.alloc(READ_BUFFER_BYTES);
    this.socket = connect({
      port,
      host,
      onread: {
        buffer: readBuffer,
        callback: (bytes: number, buffer: Uint8Array) => {
          this.onData(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
          // What is left over for the next read must not live in the buffer that read overwrites.
          if (this.pending.length > 0 && this.pending.buffer === readBuffer.buffer) {
            this.pending = Buffer.from(this.pending);
          }
          return true; // keep reading
        },
      },
    });
    this.socket.setNoDelay(true);
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    const broken = (error?: Error) => {
      const fail = this.onFail;
      this.onDone = undefined;
      this.onFail = undefined;
      this.state = 'idle';
      fail?.(error ?? new Error('connection closed'));
    };
    this.socket.on('error', broken);
    this.socket.on('close', () => broken());
  }

  get open(): boolean {
    return !this.socket.destroyed;
  }

  /** Sends one request; resolves with the status code once the whole response has arrived. */
  request(method: string, path: string, body?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.state !== 'idle') return reject(new Error('connection busy'));
      this.onDone = resolve;
      this.onFail = reject;
      this.state = 'head';
      const head = `${method} ${path} HTTP/1.1\r\nHost: ${this.host}\r\n`;
      this.socket.write(
        body === undefined
          ? `${head}\r\n`
          : `${head}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      if (this.state === 'head') {
        const end = this.pending.indexOf(CRLFCRLF);
        if (end === -1) return;
        const head = this.pending.toString('latin1', 0, end);
        this.pending = this.pending.subarray(end + 4);
        this.status = Number(head.slice(9, 12));
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) this.state = 'chunk-size';
        else if (length) {
          this.remaining = Number(length[1]);
          this.state = 'length';
        } else if (this.status === 204 || this.status === 304) {
          this.remaining = 0;
          this.state = 'length';
        } else {
          this.fail(new Error('response without length (not supported)'));
          return;
        }
      } else if (this.state === 'length') {
        const take = Math.min(this.remaining, this.pending.length);
        this.remaining -= take;
        this.pending = this.pending.subarray(take);
        if (this.remaining > 0) return;
        this.finish();
        return;
      } else if (this.state === 'chunk-size') {
        const end = this.pending.indexOf(CRLF);
        if (end === -1) return;
        const size = Number.parseInt(this.pending.toString('latin1', 0, end), 16);
        this.pending = this.pending.subarray(end + 2);
        if (size === 0) this.state = 'trailer';
        else {
          this.remaining = size + 2; // the data and its CRLF
          this.state = 'chunk-data';
        }
      } else if (this.state === 'chunk-data') {
        const take = Math.min(this.remaining, this.pending.length);
        this.remaining -= take;
        this.pending = this.pending.subarray(take);
        if (this.remaining > 0) return;
        this.state = 'chunk-size';
      } else if (this.state === 'trailer') {
        // No trailers are sent by our servers: the last chunk is followed by one CRLF.
        if (this.pending.length < 2) return;
        this.pending = this.pending.subarray(2);
        this.finish();
        return;
      } else {
        return;
      }
    }
  }

  private finish(): void {
    const done = this.onDone;
    this.onDone = undefined;
    this.onFail = undefined;
    this.state = 'idle';
    done?.(this.status);
  }

  private fail(error: Error): void {
    const fail = this.onFail;
    this.onDone = undefined;
    this.onFail = undefined;
    this.socket.destroy();
    fail?.(error);
  }
}
