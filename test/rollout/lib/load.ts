import { setTimeout as delay } from 'node:timers/promises';
import { Client } from 'undici';

/**
 * The bounded load generator: virtual users on keep-alive connections to the Ingress stand-in,
 * each looping over create -> read -> update -> read another list -> load the UI, paced so that
 * together they send a fixed rate (open loop: a slow answer does not slow the senders down, up to
 * one missed slot). Every request is accounted for: it ends with a response (expected status or
 * not) or an error, nothing is dropped. Writes that were acknowledged go into a ledger that the
 * scenario checks against the store at the end.
 *
 * Why not autocannon: its HTTP client (8.0) writes the next request right after a response even
 * when that response said `Connection: close` (which every draining replica sends), and when the
 * server then closes the socket it reconnects without counting the request that was on it; its
 * per-request callbacks then pair later responses with the wrong requests. A rollout test needs a
 * client that behaves like a browser on a closing connection and accounts for every request, so
 * this one is built on undici (Node's own HTTP client).
 */

export interface RequestRecord {
  /** performance.now() at send and at the end. */
  start: number;
  end: number;
  method: string;
  /** The route template, for the figures. */
  route: string;
  status?: number;
  /** Error code or message when no (complete) response arrived. */
  error?: string;
  /** The replica that answered (nginx's X-Upstream). */
  upstream?: string;
  /** Set when the first attempt met a closed idle keep-alive connection and was sent again. */
  resent?: string;
  ok: boolean;
}

export interface LedgerEntry {
  list: string;
  /** The title of the last acknowledged write. */
  acked: string;
  /** Titles sent after the last acknowledgement (their outcome is unknown: failed or not acked). */
  pending: Set<string>;
}

/** Acknowledged writes: todo id -> what the store must hold for it at the end. */
export class Ledger {
  readonly todos = new Map<string, LedgerEntry>();
  acknowledged = 0;

  created(list: string, id: string, title: string): void {
    this.todos.set(id, { list, acked: title, pending: new Set() });
    this.acknowledged++;
  }
  sending(id: string, title: string): void {
    this.todos.get(id)?.pending.add(title);
  }
  updated(id: string, title: string): void {
    const entry = this.todos.get(id);
    if (!entry) return;
    entry.acked = title;
    entry.pending.delete(title);
    this.acknowledged++;
  }
}

export interface LoadOptions {
  origin: string;
  /** Lists the users write to (each user sticks to one). */
  writeLists: string[];
  /** Lists of fixed size that users read. */
  readLists: string[];
  users: number;
  /** Requests per second for all users together; undefined = as fast as answers come (capacity). */
  rate?: number;
  /** Per-request timeout (a request slower than this is a failure). */
  timeoutMs?: number;
}

interface Step {
  method: 'GET' | 'POST' | 'PATCH';
  route: string;
  path: string;
  body?: string;
  expect: number;
  onOk?: (text: string) => void;
}

/**
 * One user's keep-alive connection (an undici Client holds one socket at a time). It counts the
 * responses on the current socket, so that a failure can be told apart: on a reused connection
 * before any byte of the answer (the server closed it while it was idle) or anything else.
 */
class Connection {
  readonly client: Client;
  responsesOnSocket = 0;

  constructor(origin: string, timeoutMs: number) {
    this.client = new Client(origin, { pipelining: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    this.client.on('connect', () => {
      this.responsesOnSocket = 0;
    });
  }
}

export class Load {
  readonly records: RequestRecord[] = [];
  readonly ledger = new Ledger();
  private readonly connections: Connection[];
  private running = false;
  private users: Promise<void>[] = [];
  private counter = 0;

  constructor(private readonly options: LoadOptions) {
    this.connections = Array.from(
      { length: options.users },
      () => new Connection(options.origin, options.timeoutMs ?? 10_000),
    );
  }

  start(): void {
    this.running = true;
    const { users, rate } = this.options;
    const interval = rate ? (users * 1000) / rate : 0;
    for (let user = 0; user < users; user++) {
      // Spread the users' send times evenly over one interval.
      this.users.push(this.user(user, interval, (interval * user) / users));
    }
  }

  /** Stops sending, waits for the requests in flight to end (they are counted). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.users);
    this.users = [];
  }

  async close(): Promise<void> {
    await this.stop();
    await Promise.all(this.connections.map((connection) => connection.client.close()));
  }

  private async user(index: number, interval: number, offset: number): Promise<void> {
    const connection = this.connections[index]!;
    const list = this.options.writeLists[index % this.options.writeLists.length]!;
    const readLists = this.options.readLists;
    let next = performance.now() + offset;
    const pace = async () => {
      if (interval === 0) return;
      const now = performance.now();
      // Open loop, bounded: after a slow answer, send at once but do not burst to catch up.
      next = Math.max(next + interval, now - interval);
      if (next > now) await delay(next - now);
    };
    let round = 0;
    while (this.running) {
      const title = `u${index}-r${round++}-${this.counter++}`;
      let todoId: string | undefined;
      const steps: (() => Step | undefined)[] = [
        () => ({
          method: 'POST',
          route: 'POST /api/lists/:list/todos',
          path: `/api/lists/${list}/todos`,
          body: JSON.stringify({ title }),
          expect: 201,
          onOk: (text) => {
            todoId = (JSON.parse(text) as { id: string }).id;
            this.ledger.created(list, todoId, title);
          },
        }),
        () =>
          todoId
            ? {
                method: 'GET',
                route: 'GET /api/lists/:list/todos/:todo',
                path: `/api/lists/${list}/todos/${todoId}`,
                expect: 200,
              }
            : undefined,
        () => {
          if (!todoId) return undefined;
          const id = todoId;
          const updated = `${title} (done)`;
          this.ledger.sending(id, updated);
          return {
            method: 'PATCH',
            route: 'PATCH /api/lists/:list/todos/:todo',
            path: `/api/lists/${list}/todos/${id}`,
            body: JSON.stringify({ title: updated, completed: true }),
            expect: 200,
            onOk: () => this.ledger.updated(id, updated),
          };
        },
        () => ({
          method: 'GET',
          route: 'GET /api/lists/:list/todos (20 todos)',
          path: `/api/lists/${readLists[round % readLists.length]}/todos`,
          expect: 200,
        }),
        () => ({ method: 'GET', route: 'GET / (the UI)', path: '/', expect: 200 }),
      ];
      for (const build of steps) {
        if (!this.running) break;
        const step = build();
        if (!step) continue;
        await pace();
        await this.send(connection, step);
      }
    }
  }

  private async send(connection: Connection, step: Step): Promise<void> {
    const start = performance.now();
    const record: RequestRecord = { start, end: start, method: step.method, route: step.route, ok: false };
    for (let attempt = 0; ; attempt++) {
      let answered = false;
      try {
        const response = await connection.client.request({
          method: step.method,
          path: step.path,
          headers: step.body ? { 'content-type': 'application/json' } : {},
          body: step.body,
        });
        answered = true;
        const text = await response.body.text();
        connection.responsesOnSocket++;
        record.status = response.statusCode;
        const upstream = response.headers['x-upstream'];
        if (typeof upstream === 'string') record.upstream = upstream;
        record.ok = response.statusCode === step.expect;
        if (record.ok) step.onOk?.(text);
        else record.error = `HTTP ${response.statusCode}: ${text.slice(0, 160)}`;
      } catch (error) {
        // Reused: the socket it failed on had answered before (a new socket resets the count on
        // 'connect', so a failure of a fresh connection never counts as reused).
        const reused = connection.responsesOnSocket > 0;
        if (attempt === 0 && reused && !answered && closedConnection(error)) {
          // What browsers do (Chromium's ShouldResendRequest, Firefox likewise): a request that
          // failed on a reused keep-alive connection before any byte of its answer arrived is
          // sent again on a new connection: the server closed the idle connection as the request
          // was on its way, and never read it. Here it is nginx's old workers closing their idle
          // client connections on a reload; ingress-nginx applies endpoint changes without one.
          record.resent = errorCode(error);
          continue;
        }
        record.error = errorCode(error);
      }
      break;
    }
    record.end = performance.now();
    this.records.push(record);
  }
}

/** The peer closed or reset the connection (not a timeout, not an HTTP answer). */
function closedConnection(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code } = error as { code?: string };
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
}

export function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const { code, message } = error as { code?: string; message?: string };
    return code ? `${code}: ${message ?? ''}` : (message ?? String(error));
  }
  return String(error);
}

/** Requests that ended after `from` and started before `to` (performance.now() times). */
export function between(records: readonly RequestRecord[], from: number, to: number): RequestRecord[] {
  return records.filter((record) => record.start >= from && record.start < to);
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export interface Figures {
  requests: number;
  failed: number;
  p50: number;
  p99: number;
  rate: number;
}

export function figures(records: readonly RequestRecord[], seconds: number): Figures {
  const latencies = records
    .filter((record) => record.ok)
    .map((record) => record.end - record.start)
    .sort((a, b) => a - b);
  return {
    requests: records.length,
    failed: records.filter((record) => !record.ok).length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    rate: seconds > 0 ? records.length / seconds : 0,
  };
}
