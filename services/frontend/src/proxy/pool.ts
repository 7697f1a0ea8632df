import { Pool } from 'undici';

/** Where the backend is and how long to wait for it (BACKEND_URL and UPSTREAM_*). */
export interface BackendOptions {
  backendUrl: string;
  timeoutMs: number;
  connectTimeoutMs: number;
  connections: number;
}

/** A keep-alive pool of connections to the backend; `bodyTimeout` 0 for event streams. */
export function backendPool(options: BackendOptions, bodyTimeout: number, connections = options.connections): Pool {
  return new Pool(options.backendUrl, {
    connections,
    pipelining: 1,
    // Idle pooled connections are dropped after 4 s, shorter than the backend's 5 s drain: a
    // draining backend closes idle connections when its drain ends, and a request sent on one
    // at that instant would fail. Busy connections get `Connection: close` during the drain.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 4_000,
    headersTimeout: options.timeoutMs,
    bodyTimeout,
    // Verify the backend's certificate if BACKEND_URL is https.
    connect: { timeout: options.connectTimeoutMs, rejectUnauthorized: true },
  });
}
