import { Pool } from 'undici';
import { RawConnection } from './raw-http.ts';

export interface BenchRequest {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  body?: string;
}

/** Gives the next request of a workload (a workload may vary its path and body per request). */
export type NextRequest = () => BenchRequest;

export interface PeakResult {
  /** Completed requests per second. */
  rps: number;
  p50: number;
  p99: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  requests: number;
  /** CPU (in cores) used by processes other than the benchmark's during the run: a shared machine's noise. */
  otherCpu?: number;
}

export interface FixedRateResult {
  /** The rate asked for (requests per second). */
  rate: number;
  /** The rate achieved. */
  rps: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  requests: number;
}

const jsonHeaders = (): Record<string, string> => ({ 'content-type': 'application/json' });

/** The largest value, NaN for none (a spread into Math.max overflows the stack at ~100,000 values). */
export function maximum(values: number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
}

/** The q-quantile (0..1) of values, nearest rank; NaN for none. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/**
 * Open-loop fixed rate: requests are due on a schedule (evenly spaced, `rate` per second) and sent
 * on the first idle one of `connections` keep-alive connections, whether or not earlier ones were
 * answered; each latency is measured from the time the request was due, so a stall shows in the
 * percentiles (no coordinated omission). Debian's wrk has no fixed-rate mode (that is wrk2's
 * -R), so this client stays in the harness; at half of a peak rate it has the CPU to spare. The
 * connections are RawConnection (see raw-http.ts).
 */
export async function fixedRate(
  origin: string,
  next: NextRequest,
  { rate, durationS, connections }: { rate: number; durationS: number; connections: number },
): Promise<FixedRateResult> {
  const port = Number(new URL(origin).port);
  const pool = Array.from({ length: connections }, () => new RawConnection(port));
  await Promise.all(pool.map((c) => c.ready));
  const idle = [...pool];
  const backlog: number[] = [];
  const latencies: number[] = [];
  let errors = 0;
  let finished = 0;
  const total = Math.max(1, Math.round(rate * durationS));
  const interval = 1000 / rate;
  let allDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allDone = resolve;
  });

  const release = (conn: RawConnection) => {
    if (++finished === total) allDone();
    if (!conn.open) return; // a broken connection leaves the pool (counted as an error)
    const due = backlog.shift();
    if (due === undefined) idle.push(conn);
    else dispatch(conn, due);
  };
  const dispatch = (conn: RawConnection, due: number) => {
    const r = next();
    conn.request(r.method, r.path, r.body).then(
      (status) => {
        if (status >= 400) errors++;
        else latencies.push(performance.now() - due);
        release(conn);
      },
      () => {
        errors++;
        release(conn);
      },
    );
  };

  const start = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) {
        const due = start + sent * interval;
        const conn = idle.pop();
        if (conn) dispatch(conn, due);
        else backlog.push(due);
        sent++;
      }
      if (sent >= total) return resolve();
      setTimeout(tick, Math.max(0, Math.min(1, start + sent * interval - now)));
    };
    tick();
  });
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, 30_000).unref());
  await Promise.race([done, timeout]);
  const elapsedS = (performance.now() - start) / 1000;
  for (const conn of pool) conn.close();
  errors += total - finished;
  return {
    rate,
    rps: latencies.length / elapsedS,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: maximum(latencies),
    errors,
    requests: latencies.length + errors,
  };
}

/** A small JSON client for setting up lists and todos (not measured). */
export class ApiClient {
  private readonly pool: Pool;

  constructor(readonly origin: string) {
    this.pool = new Pool(origin, { connections: 32, pipelining: 1 });
  }

  async call<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const response = await this.pool.request({
      method,
      path,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : jsonHeaders(),
    });
    const text = await response.body.text();
    if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text.slice(0, 200)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async createList(): Promise<string> {
    return (await this.call<{ id: string }>('POST', '/api/lists')).id;
  }

  /** Adds `count` todos to a list, 32 at a time; resolves to their ids in creation order. */
  async addTodos(listId: string, count: number, title = (i: number) => `todo ${i}`): Promise<string[]> {
    const ids: string[] = new Array(count);
    let nextIndex = 0;
    const worker = async () => {
      for (let i = nextIndex++; i < count; i = nextIndex++) {
        const todo = await this.call<{ id: string }>('POST', `/api/lists/${listId}/todos`, {
          title: title(i),
          order: i,
        });
        ids[i] = todo.id;
      }
    };
    await Promise.all(Array.from({ length: Math.min(32, count) }, worker));
    return ids;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
