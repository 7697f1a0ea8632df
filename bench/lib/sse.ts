import { connect, type Socket } from 'node:net';

/**
 * One live-sync client: a raw keep-alive socket reading the event stream (a raw socket, not an
 * HTTP client library, so 5,000 of them cost the load generator as little as possible).
 */
class SseClient {
  readonly socket: Socket;
  ready = false;
  failed: string | undefined;
  /** performance.now() when the awaited change event arrived. */
  changeAt: number | undefined;
  private buffer = '';
  private awaited: string | undefined;

  constructor(port: number, path: string) {
    this.socket = connect({ port, host: '127.0.0.1' });
    this.socket.setEncoding('utf8');
    this.socket.setNoDelay(true);
    this.socket.once('connect', () => {
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
    });
    this.socket.on('data', (chunk: string) => this.onData(chunk));
    this.socket.on('error', (error) => {
      this.failed ??= error.message;
    });
    this.socket.on('close', () => {
      this.failed ??= 'closed';
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    if (!this.ready) {
      if (!this.buffer.startsWith('HTTP/1.1 200')) {
        this.failed ??= this.buffer.split('\r\n')[0] ?? 'bad answer';
        return;
      }
      const at = this.buffer.indexOf('event: ready');
      if (at === -1) return;
      this.ready = true;
      this.buffer = this.buffer.slice(at + 12);
    }
    if (this.awaited !== undefined && this.changeAt === undefined && this.buffer.includes(this.awaited)) {
      this.changeAt = performance.now();
    }
    // Keep only a tail long enough to find a marker split across two reads.
    if (this.buffer.length > 4096) this.buffer = this.buffer.slice(-256);
  }

  /** Watch for the change event of this list version (`id: <version>.<token>`), seen or not yet. */
  await(version: number): void {
    this.awaited = `id: ${version}.`;
    this.changeAt = undefined;
    if (this.buffer.includes(this.awaited)) this.changeAt = performance.now();
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface FanOut {
  clients: SseClient[];
  readyCount(): number;
  failures(): string[];
  close(): void;
}

/** Opens `count` event streams on one list, spread round-robin over the given ports. */
function openStreams(ports: number[], listId: string, count: number): FanOut {
  const clients: SseClient[] = [];
  for (let i = 0; i < count; i++) {
    clients.push(new SseClient(ports[i % ports.length] as number, `/api/lists/${listId}/events`));
  }
  return {
    clients,
    readyCount: () => clients.filter((c) => c.ready).length,
    failures: () => clients.flatMap((c) => (c.failed && !c.ready ? [c.failed] : [])),
    close: () => {
      for (const client of clients) client.close();
    },
  };
}

/** Opens streams in batches so the listen backlogs never overflow, waiting for each batch to be ready. */
export async function openStreamsInBatches(
  ports: number[],
  listId: string,
  count: number,
  {
    batch = 250,
    timeoutMs = 60_000,
    onProgress,
  }: { batch?: number; timeoutMs?: number; onProgress?: (n: number) => void },
): Promise<FanOut> {
  const all: SseClient[] = [];
  const deadline = Date.now() + timeoutMs;
  for (let opened = 0; opened < count; opened += batch) {
    const part = openStreams(ports, listId, Math.min(batch, count - opened));
    all.push(...part.clients);
    await until(() => {
      const failures = part.failures();
      if (failures.length > 0) throw new Error(`${failures.length} event streams failed, e.g. ${failures[0]}`);
      return part.readyCount() === part.clients.length;
    }, deadline);
    onProgress?.(all.length);
  }
  return {
    clients: all,
    readyCount: () => all.filter((c) => c.ready).length,
    failures: () => all.flatMap((c) => (c.failed && !c.ready ? [c.failed] : [])),
    close: () => {
      for (const client of all) client.close();
    },
  };
}

/** Resolves when check() is true, polling on the event loop; throws at the deadline. */
export async function until(check: () => boolean, deadline: number, intervalMs = 5): Promise<void> {
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
