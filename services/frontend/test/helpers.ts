import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.ts';
import { type Config, configWith } from '../src/config.ts';

export type TestApp = Awaited<ReturnType<typeof buildApp>>;

export const HASHED_JS = '/assets/index-AbCd1234.js';
export const HASHED_CSS = '/assets/style-Xy_-9876.css';
export const INDEX_HTML =
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>todos</title>' +
  `<script type="module" src="${HASHED_JS}"></script><link rel="stylesheet" href="${HASHED_CSS}"></head>` +
  '<body><div id="app"></div></body></html>';
/** Big and repetitive enough to be worth compressing. */
export const JS_BODY = `${'console.log("tasktier");\n'.repeat(200)}export {};\n`;

/** A stand-in UI build (the real one is tested by the browser suite), removed with `cleanup`. */
export function makePublicDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tasktier-frontend-public-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), INDEX_HTML);
  writeFileSync(join(dir, HASHED_JS), JS_BODY);
  writeFileSync(join(dir, HASHED_CSS), 'body{margin:0}');
  writeFileSync(join(dir, 'robots.txt'), 'User-agent: *\nAllow: /\n');
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The frontend app (no port), quiet logs. Close it after the test. */
export async function buildTestApp(publicDir: string, overrides: Partial<Config> = {}): Promise<TestApp> {
  const app = await buildApp(configWith({ BACKEND_URL: 'http://127.0.0.1:9', ...overrides }), {
    publicDir,
    logger: false,
  });
  await app.ready();
  return app;
}

/** Listens on a free loopback port; returns its base URL. */
export async function listen(app: TestApp): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  remotePort: number;
}

export interface Upstream {
  url: string;
  port: number;
  /** Requests the stand-in received (bodies read fully unless the handler took the stream). */
  requests: RecordedRequest[];
  /** TCP connections opened to the stand-in so far. */
  connections(): number;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => void;

/**
 * A node:http server standing in for the backend in the proxy tests: it plays a backend that is
 * slow, resets connections or streams events exactly when a test needs it. The real backend is
 * used by the browser suite.
 */
export async function startUpstream(handler: UpstreamHandler, { readBody = true } = {}): Promise<Upstream> {
  const requests: RecordedRequest[] = [];
  let connections = 0;
  const server: Server = createServer((req, res) => {
    const recorded: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: '',
      remotePort: req.socket.remotePort ?? 0,
    };
    requests.push(recorded);
    if (!readBody) return handler(req, res, recorded);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      recorded.body = Buffer.concat(chunks).toString();
      handler(req, res, recorded);
    });
  });
  server.on('connection', () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    connections: () => connections,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends a JSON body. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
