import { request as httpRequest, type IncomingMessage } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { waitFor } from '@tasktier/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { classifyUpstreamError } from '../src/proxy/failures.ts';
import {
  buildTestApp,
  json,
  listen,
  makePublicDir,
  type RecordedRequest,
  startUpstream,
  type TestApp,
  type Upstream,
} from './helpers.ts';

const LIST = 'AbCdEfGhIjKlMnOpQrStUv';
const TIMEOUT_MS = 400;

let publicDir: ReturnType<typeof makePublicDir>;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(() => {
  publicDir = makePublicDir();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => publicDir?.cleanup());

async function frontendFor(upstream: { url: string }, overrides = {}): Promise<{ app: TestApp; base: string }> {
  const app = await buildTestApp(publicDir.dir, {
    BACKEND_URL: upstream.url,
    UPSTREAM_TIMEOUT_MS: TIMEOUT_MS,
    ...overrides,
  });
  cleanups.push(() => app.close());
  return { app, base: await listen(app) };
}

async function upstreamWith(...args: Parameters<typeof startUpstream>): Promise<Upstream> {
  const upstream = await startUpstream(...args);
  cleanups.push(() => upstream.close());
  return upstream;
}

/** A backend whose answer never ends: it writes whenever the socket has room, until closed. */
async function endlessUpstream(): Promise<{ upstream: Upstream; closed: () => boolean }> {
  let closed = false;
  const upstream = await upstreamWith((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 120);
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) {}
    };
    res.on('drain', pump);
    res.on('close', () => {
      closed = true;
    });
    pump();
  });
  return { upstream, closed: () => closed };
}

/** A raw GET that hands over the response as soon as its headers arrive (fetch would too, but this shows chunks). */
function get(url: string, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, resolve);
    req.on('error', reject);
    req.end();
  });
}

/** Collects a streaming response's text as it arrives. */
function collect(response: IncomingMessage) {
  let text = '';
  let ended = false;
  let errored: Error | undefined;
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    text += chunk;
  });
  response.on('end', () => {
    ended = true;
  });
  response.on('error', (error) => {
    errored = error;
  });
  response.on('aborted', () => {
    errored ??= new Error('aborted');
  });
  return { text: () => text, ended: () => ended, errored: () => errored };
}

describe('proxying /api/* to the backend', () => {
  it('passes method, path, query, body and headers both ways, adding forwarding headers', async () => {
    const upstream = await upstreamWith((_req, res, recorded) =>
      json(res, 201, { echoed: recorded.body }, { 'x-backend': 'yes', 'keep-alive': 'timeout=5', etag: '"7"' }),
    );
    const { base } = await frontendFor(upstream);
    const response = await fetch(`${base}/api/lists/${LIST}/todos?x=1&y=2`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-123', 'x-forwarded-for': '198.51.100.9' },
      body: JSON.stringify({ title: 'milk' }),
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ echoed: '{"title":"milk"}' });
    expect(response.headers.get('x-backend')).toBe('yes');
    expect(response.headers.get('etag')).toBe('"7"');
    expect(response.headers.get('x-request-id')).toBe('req-123');
    expect(response.headers.get('keep-alive')).not.toBe('timeout=5');

    const [seen] = upstream.requests as [RecordedRequest];
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe(`/api/lists/${LIST}/todos?x=1&y=2`);
    expect(seen.headers['content-type']).toBe('application/json');
    expect(seen.headers['x-request-id']).toBe('req-123');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(new URL(base).host);
    // Nobody is a trusted proxy by default: the client's own X-Forwarded-For is ignored.
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('sends the backend exactly one X-Forwarded-For entry: the client address it believes', async () => {
    const upstream = await upstreamWith((_req, res) => json(res, 200, {}));
    const { base } = await frontendFor(upstream, { TRUST_PROXY: 'loopback' });
    // Our peer (loopback, trusted) says the client is 10.0.0.1; what 10.0.0.1 claims is not believed.
    await fetch(`${base}/api/lists/${LIST}`, { headers: { 'x-forwarded-for': '198.51.100.9, 10.0.0.1' } });
    const [seen] = upstream.requests as [RecordedRequest];
    expect(seen.headers['x-forwarded-for']).toBe('10.0.0.1');
  });

  it('does not let an untrusted client forge forwarding headers', async () => {
    const upstream = await upstreamWith((_req, res) => json(res, 200, {}));
    const { base } = await frontendFor(upstream, { TRUST_PROXY: 'false' });
    await fetch(`${base}/api/lists/${LIST}`, {
      headers: {
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-prefix': '/evil',
        forwarded: 'for=6.6.6.6',
      },
    });
    const [seen] = upstream.requests as [RecordedRequest];
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(new URL(base).host);
    expect(seen.headers['x-forwarded-prefix']).toBeUndefined();
    expect(seen.headers.forwarded).toBeUndefined();
  });

  it('creates a request id when none is sent and gives the backend the same one', async () => {
    const upstream = await upstreamWith((_req, res) => json(res, 200, {}));
    const { base } = await frontendFor(upstream);
    const response = await fetch(`${base}/api/lists/${LIST}`);
    const id = response.headers.get('x-request-id');
    expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(upstream.requests[0]?.headers['x-request-id']).toBe(id);
  });

  it('reuses keep-alive connections to the backend', async () => {
    const upstream = await upstreamWith((_req, res) => json(res, 200, { ok: true }));
    const { base } = await frontendFor(upstream);
    for (let i = 0; i < 10; i++) expect((await fetch(`${base}/api/lists/${LIST}`)).status).toBe(200);
    expect(upstream.requests).toHaveLength(10);
    expect(upstream.connections()).toBe(1);
  });

  it('streams a request body to the backend before the client has finished sending it', async () => {
    let bodyStarted = false;
    const upstream = await upstreamWith(
      (req, res) => {
        req.once('data', () => {
          bodyStarted = true;
        });
        req.resume();
        req.on('end', () => json(res, 201, {}));
      },
      { readBody: false },
    );
    const { base } = await frontendFor(upstream);
    const result = new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${base}/api/lists/${LIST}/todos`,
        { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write('{"title":');
      waitFor('the first body chunk to reach the backend', () => bodyStarted).then(() => req.end('"x"}'), reject);
    });
    expect(await result).toBe(201);
  });

  it('compresses large JSON responses, and leaves already-encoded ones alone', async () => {
    const big = { todos: Array.from({ length: 100 }, (_, i) => ({ id: i, title: `todo number ${i}` })) };
    const upstream = await upstreamWith((req, res) => {
      if (!req.url?.endsWith('/encoded')) return json(res, 200, big);
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'identity-test' });
      res.end('{}');
    });
    const { base } = await frontendFor(upstream);
    const response = await get(`${base}/api/lists/${LIST}/todos`, { 'accept-encoding': 'gzip' });
    expect(response.headers['content-encoding']).toBe('gzip');
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    expect(JSON.parse(gunzipSync(Buffer.concat(chunks)).toString())).toEqual(big);

    const encoded = await get(`${base}/api/encoded`, { 'accept-encoding': 'gzip' });
    encoded.resume();
    expect(encoded.headers['content-encoding']).toBe('identity-test');
  });

  it('streams bodies too big to buffer (with or without a length) byte for byte, compressed on request', async () => {
    // 1 MiB: over the 64 KiB the proxy collects before sending; JSON-like so it compresses.
    const big = Buffer.from(
      `[${Array.from({ length: 16_384 }, (_, i) => `"${String(i).padStart(59, '0')}"`).join(',')}]`,
    );
    const upstream = await upstreamWith((req, res) => {
      const chunked = req.url?.endsWith('/chunked');
      res.writeHead(200, { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': big.length }) });
      // In pieces, as a big body arrives.
      for (let offset = 0; offset < big.length; offset += 64 * 1024)
        res.write(big.subarray(offset, offset + 64 * 1024));
      res.end();
    });
    const { base } = await frontendFor(upstream);
    for (const path of ['/api/big', '/api/big/chunked']) {
      const plain = await fetch(`${base}${path}`, { headers: { 'accept-encoding': 'identity' } });
      expect(plain.status).toBe(200);
      expect(Buffer.from(await plain.arrayBuffer()).equals(big)).toBe(true);
      const zipped = await get(`${base}${path}`, { 'accept-encoding': 'gzip' });
      expect(zipped.headers['content-encoding']).toBe('gzip');
      const chunks: Buffer[] = [];
      for await (const chunk of zipped) chunks.push(chunk as Buffer);
      expect(gunzipSync(Buffer.concat(chunks)).equals(big)).toBe(true);
    }
  });

  it('answers HEAD with the backend headers and no body', async () => {
    const upstream = await upstreamWith((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1234', etag: '"9"' });
      res.end();
    });
    const { base } = await frontendFor(upstream);
    const response = await fetch(`${base}/api/lists/${LIST}/todos`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe('1234');
    expect(response.headers.get('etag')).toBe('"9"');
    expect(upstream.requests[0]?.method).toBe('HEAD');
  });

  it('stops the backend transfer when the client goes away in the middle of a big body', async () => {
    const endless = await endlessUpstream();
    const { base } = await frontendFor(endless.upstream);
    const response = await get(`${base}/api/endless`);
    await new Promise((resolve) => response.once('data', resolve));
    response.destroy();
    await waitFor('the backend response to be closed', () => endless.closed());
    expect(endless.closed()).toBe(true);
  });

  it('leaves the access log line of a proxied success to the backend, and logs failures itself', async () => {
    const lines: Array<{ msg: string; status?: number; level: number }> = [];
    const { buildApp } = await import('../src/app.ts');
    const { configWith } = await import('../src/config.ts');
    const upstream = await upstreamWith((req, res) =>
      req.url?.endsWith('/fail') ? json(res, 500, { status: 500 }) : json(res, 200, { ok: true }),
    );
    const app = await buildApp(configWith({ BACKEND_URL: upstream.url }), {
      publicDir: publicDir.dir,
      logger: { stream: { write: (line: string) => lines.push(JSON.parse(line)) } as unknown as NodeJS.WritableStream },
    });
    cleanups.push(() => app.close());
    expect((await app.inject({ url: `/api/lists/${LIST}` })).statusCode).toBe(200);
    expect((await app.inject({ url: `/api/lists/${LIST}/fail` })).statusCode).toBe(500);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    const logged = lines.filter((line) => line.msg === 'request').map((line) => line.status);
    expect(logged).toEqual([500, 200]);
  });

  it('passes the backend own errors through unchanged', async () => {
    const problem = {
      type: 'urn:tasktier:problem:list-not-found',
      title: 'List not found',
      status: 404,
      detail: 'no list',
    };
    const upstream = await upstreamWith((_req, res) =>
      json(res, 404, problem, { 'content-type': 'application/problem+json' }),
    );
    const { base } = await frontendFor(upstream);
    const response = await fetch(`${base}/api/lists/${LIST}`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual(problem);
  });

  it('does not retry a backend answer of 503 (it would multiply load on a struggling backend)', async () => {
    const upstream = await upstreamWith((_req, res) => json(res, 503, { status: 503 }, { 'retry-after': '1' }));
    const { base } = await frontendFor(upstream);
    expect((await fetch(`${base}/api/lists/${LIST}/todos`)).status).toBe(503);
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('backend failures become problem+json', () => {
  async function expectProblem(response: Response, status: number, detail: RegExp) {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    const body = (await response.json()) as { status: number; detail: string; type: string };
    expect(body.status).toBe(status);
    expect(body.detail).toMatch(detail);
    return body;
  }

  it('502 when the backend refuses connections (stopped)', async () => {
    const stopped = await startUpstream(() => {});
    await stopped.close();
    const { base } = await frontendFor(stopped);
    for (const method of ['GET', 'POST', 'DELETE']) {
      const response = await fetch(`${base}/api/lists/${LIST}/todos`, { method });
      await expectProblem(response, 502, /refused/);
    }
    const events = await fetch(`${base}/api/lists/${LIST}/events`);
    await expectProblem(events, 502, /refused/);
  });

  it('502 when the backend host cannot be found', async () => {
    const { base } = await frontendFor({ url: 'http://backend.invalid:5000' });
    await expectProblem(await fetch(`${base}/api/lists`, { method: 'POST' }), 502, /unreachable/);
  });

  it('502 when the backend drops the connection without answering', async () => {
    const upstream = await upstreamWith((req) => req.socket.destroy());
    const { base } = await frontendFor(upstream);
    await expectProblem(await fetch(`${base}/api/lists`, { method: 'POST' }), 502, /closed the connection/);
  });

  it('504 when the backend does not answer within UPSTREAM_TIMEOUT_MS', async () => {
    // A backend that accepts the request and never answers.
    const upstream = await upstreamWith(() => {});
    const { app, base } = await frontendFor(upstream);
    const body = await expectProblem(await fetch(`${base}/api/lists/${LIST}/todos`), 504, /did not answer in time/);
    expect(body.type).toBe('urn:tasktier:problem:upstream-timeout');
    const metrics = await app.metricsRegistry.metrics();
    expect(metrics).toMatch(/tasktier_frontend_upstream_errors_total\{kind="timeout"\} 1/);
  });

  it('504 without the backend headers when its body stalls after the headers', async () => {
    const upstream = await upstreamWith((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': '100',
        etag: '"1"',
        'set-cookie': ['a=1', 'b=2'],
        location: '/x',
      });
      res.write('{"partial":'); // and then nothing
    });
    const { base } = await frontendFor(upstream);
    const response = await fetch(`${base}/api/lists/${LIST}/todos`);
    await expectProblem(response, 504, /did not answer in time/);
    for (const name of ['etag', 'set-cookie', 'location']) expect(response.headers.get(name)).toBeNull();
  });

  it('stops the upstream request when the client leaves before the answer, and the pool stays usable', async () => {
    let closedEarly = 0;
    const upstream = await upstreamWith((req, res) => {
      if (req.url?.endsWith('/slow')) {
        res.on('close', () => {
          if (!res.writableEnded) closedEarly++;
        });
        return; // answers only if nobody gave up (it never does)
      }
      json(res, 200, { ok: true });
    });
    // One connection: a leaked one would block every later request.
    const { base } = await frontendFor(upstream, { UPSTREAM_CONNECTIONS: 1, UPSTREAM_TIMEOUT_MS: 60_000 });
    const gone = new AbortController();
    const abandoned = fetch(`${base}/api/slow`, { signal: gone.signal }).catch(() => 'aborted');
    await waitFor('the slow request to reach the backend', () => upstream.requests.length === 1);
    gone.abort();
    expect(await abandoned).toBe('aborted');
    await waitFor('the backend request to be closed', () => closedEarly === 1);
    expect((await fetch(`${base}/api/fine`)).status).toBe(200);
  });

  it('cuts off a client that stops reading a big response, instead of holding a backend connection', async () => {
    const endless = await endlessUpstream();
    const { base } = await frontendFor(endless.upstream);
    const response = await get(`${base}/api/endless`);
    response.pause(); // reads nothing more
    await waitFor('the backend response to be closed', () => endless.closed(), { timeoutMs: 10_000 });
    response.destroy();
  });

  it('refuses paths outside /api/ or with dot segments (400), before the backend sees them', async () => {
    const upstream = await upstreamWith((_req, res) => json(res, 200, {}));
    const { base } = await frontendFor(upstream);
    // Sent as written (a URL string, in fetch, inject or http.get, gets its dot segments resolved first).
    const { hostname, port } = new URL(base);
    for (const path of ['/api/../metrics', '/api/%2e%2e/metrics', '/api/lists/./x', '/api/%E0%A4%A']) {
      const response = await new Promise<IncomingMessage>((resolve, reject) =>
        httpRequest({ hostname, port, path }, resolve).on('error', reject).end(),
      );
      response.resume();
      expect(response.statusCode, path).toBe(400);
      expect(response.headers['content-type'], path).toMatch(/problem\+json/);
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it('passes a compressed request body through as sent, and refuses one over the API limit with 413', async () => {
    const upstream = await upstreamWith((_req, res, recorded) => json(res, 201, { bytes: recorded.body.length }), {
      readBody: true,
    });
    const { base } = await frontendFor(upstream);
    const zipped = gzipSync(JSON.stringify({ title: 'x'.repeat(5000) }));
    const response = await fetch(`${base}/api/lists/${LIST}/todos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: zipped,
    });
    expect(response.status).toBe(201);
    expect(upstream.requests[0]?.headers['content-encoding']).toBe('gzip');
    expect(upstream.requests[0]?.headers['content-length']).toBe(String(zipped.length));

    const tooBig = await fetch(`${base}/api/lists/${LIST}/todos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'x'.repeat(70 * 1024) }),
    });
    await expectProblem(tooBig, 413, /larger than 65536 bytes/);
    expect(upstream.requests).toHaveLength(1);
  });

  it('classifies network errors', () => {
    const wrapped = (code: string) => ({ code: 'UND_ERR', cause: { code } });
    expect(classifyUpstreamError(wrapped('ECONNREFUSED')).status).toBe(502);
    expect(classifyUpstreamError(wrapped('UND_ERR_CONNECT_TIMEOUT')).kind).toBe('unreachable');
    expect(classifyUpstreamError(wrapped('UND_ERR_HEADERS_TIMEOUT')).status).toBe(504);
    expect(classifyUpstreamError({ cause: { errors: [{ code: 'ECONNREFUSED' }] } }).kind).toBe('refused');
    expect(classifyUpstreamError({ code: 'UND_ERR_BODY_TIMEOUT' }).status).toBe(504);
    expect(classifyUpstreamError(new Error('strange')).status).toBe(502);
  });
});

describe('the live-sync event stream', () => {
  /** A backend whose event streams the test drives: `send` writes to every open stream. */
  async function eventBackend() {
    const streams = new Set<import('node:http').ServerResponse>();
    const closed: string[] = [];
    const upstream = await upstreamWith((req, res) => {
      if (!req.url?.endsWith('/events')) return json(res, 404, { status: 404 });
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
      });
      res.write('retry: 2000\nevent: ready\ndata: {"version":1}\n\n');
      streams.add(res);
      res.on('close', () => {
        streams.delete(res);
        closed.push(req.url ?? '');
      });
    });
    return {
      upstream,
      send: (text: string) => {
        for (const stream of streams) stream.write(text);
      },
      open: () => streams.size,
      closed,
    };
  }

  it('passes each event through as it happens, uncompressed', async () => {
    const backend = await eventBackend();
    const { base } = await frontendFor(backend.upstream);
    const response = await get(`${base}/api/lists/${LIST}/events`, { 'accept-encoding': 'gzip, br' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(response.headers['content-encoding']).toBeUndefined();
    expect(response.headers['x-accel-buffering']).toBe('no');
    const stream = collect(response);
    await waitFor('the ready event', () => stream.text().includes('event: ready'));
    backend.send('id: 2\nevent: change\ndata: {"type":"todo.created","version":2}\n\n');
    await waitFor('the change event', () => stream.text().includes('"version":2'));
    expect(stream.ended()).toBe(false);
    response.destroy();
  });

  it('serves more streams than the API connection pool holds (each stream keeps a connection)', async () => {
    const backend = await eventBackend();
    const { base } = await frontendFor(backend.upstream, { UPSTREAM_CONNECTIONS: 2 });
    const responses = await Promise.all(Array.from({ length: 6 }, () => get(`${base}/api/lists/${LIST}/events`)));
    const streams = responses.map((response) => collect(response));
    await waitFor('six ready events', () => streams.every((stream) => stream.text().includes('event: ready')));
    expect(backend.open()).toBe(6);
    for (const response of responses) response.destroy();
  });

  it('refuses the stream over MAX_EVENT_STREAMS at once (503 + Retry-After), not after a wait in the pool', async () => {
    const backend = await eventBackend();
    const { base } = await frontendFor(backend.upstream, { MAX_EVENT_STREAMS: 2 });
    const responses = await Promise.all(Array.from({ length: 2 }, () => get(`${base}/api/lists/${LIST}/events`)));
    const refused = await get(`${base}/api/lists/${LIST}/events`);
    expect(refused.statusCode).toBe(503);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const body = collect(refused);
    await waitFor('the problem', () => body.ended());
    expect(JSON.parse(body.text())).toMatchObject({ status: 503, type: 'urn:tasktier:problem:overloaded' });
    expect(backend.open()).toBe(2);
    // A stream that ends gives its place back.
    responses[0]!.destroy();
    await waitFor('the backend stream to close', () => backend.open() === 1);
    const next = await get(`${base}/api/lists/${LIST}/events`);
    expect(next.statusCode).toBe(200);
    for (const response of [...responses, next]) response.destroy();
  });

  it('keeps a quiet stream open past UPSTREAM_TIMEOUT_MS (no body timeout on events)', async () => {
    const backend = await eventBackend();
    const { base } = await frontendFor(backend.upstream);
    const response = await get(`${base}/api/lists/${LIST}/events`);
    const stream = collect(response);
    await waitFor('the ready event', () => stream.text().includes('event: ready'));
    // The scenario itself is "nothing happens for longer than the API timeout".
    await delay(TIMEOUT_MS * 3);
    backend.send('event: change\ndata: {"version":3}\n\n');
    await waitFor('an event after the quiet period', () => stream.text().includes('"version":3'));
    expect(stream.errored()).toBeUndefined();
    response.destroy();
  });

  it('closes the backend stream when the browser goes away', async () => {
    const backend = await eventBackend();
    const { app, base } = await frontendFor(backend.upstream);
    const response = await get(`${base}/api/lists/${LIST}/events`);
    const stream = collect(response);
    await waitFor('the ready event', () => stream.text().includes('event: ready'));
    expect(backend.open()).toBe(1);
    expect(await app.metricsRegistry.metrics()).toContain('tasktier_frontend_sse_streams 1');
    response.destroy();
    await waitFor('the backend stream to close', () => backend.closed.length === 1);
    await waitFor('the gauge to drop', async () =>
      (await app.metricsRegistry.metrics()).includes('tasktier_frontend_sse_streams 0'),
    );
  });

  it('ends the stream when the backend ends it (so the browser reconnects)', async () => {
    const backend = await eventBackend();
    const { base } = await frontendFor(backend.upstream);
    const response = await get(`${base}/api/lists/${LIST}/events`);
    const stream = collect(response);
    await waitFor('the ready event', () => stream.text().includes('event: ready'));
    await backend.upstream.close();
    await waitFor('the browser stream to end', () => stream.ended() || stream.errored());
  });

  it('ends open streams cleanly on close instead of hanging shutdown', async () => {
    const backend = await eventBackend();
    const { app, base } = await frontendFor(backend.upstream);
    const response = await get(`${base}/api/lists/${LIST}/events`);
    const stream = collect(response);
    await waitFor('the ready event', () => stream.text().includes('event: ready'));
    await app.close();
    await waitFor('the browser stream to end', () => stream.ended());
    expect(stream.errored()).toBeUndefined();
    await waitFor('the backend stream to close', () => backend.closed.length === 1);
  });

  it('504 when the backend does not start the stream in time', async () => {
    const upstream = await upstreamWith(() => {});
    const { base } = await frontendFor(upstream);
    const response = await fetch(`${base}/api/lists/${LIST}/events`);
    expect(response.status).toBe(504);
  });

  it('passes a backend error on the events path through (e.g. an unknown list)', async () => {
    const upstream = await upstreamWith((_req, res) =>
      json(res, 404, { status: 404, detail: 'no list' }, { 'content-type': 'application/problem+json' }),
    );
    const { base } = await frontendFor(upstream);
    const response = await fetch(`${base}/api/lists/${LIST}/events`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ detail: 'no list' });
  });
});

describe('conditional requests', () => {
  it('passes a backend 304 through', async () => {
    const upstream = await upstreamWith((req, res) => {
      if (req.headers['if-none-match'] === '"5"') {
        res.writeHead(304, { etag: '"5"' });
        return res.end();
      }
      json(res, 200, [], { etag: '"5"' });
    });
    const { base } = await frontendFor(upstream);
    const response = await get(`${base}/api/lists/${LIST}/todos`, {
      'if-none-match': '"5"',
      'accept-encoding': 'gzip',
    });
    response.resume();
    expect(response.statusCode).toBe(304);
    expect(response.headers.etag).toBe('"5"');
    expect(response.headers['content-encoding']).toBeUndefined();
  });

  it('passes a 304 that carries a Content-Length (RFC 9110 allows it; undici 7 chokes on it)', async () => {
    const upstream = await upstreamWith((_req, res) => {
      res.writeHead(304, { etag: '"5"', 'content-length': '4' });
      res.end();
    });
    const { base } = await frontendFor(upstream);
    const variants: Array<Record<string, string>> = [
      { 'if-none-match': '"5"' },
      { 'if-none-match': '"5"', 'accept-encoding': 'gzip' },
    ];
    for (const headers of variants) {
      const response = await fetch(`${base}/api/lists/${LIST}/todos`, { headers });
      expect(response.status).toBe(304);
      expect(response.headers.get('etag')).toBe('"5"');
    }
  });

  it('answers 502, not 500, when the backend response breaks off before our headers went out', async () => {
    const upstream = await upstreamWith((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2000', etag: '"9"' });
      res.write('[{"title":"cut');
      setImmediate(() => req.socket.destroy());
    });
    const { base } = await frontendFor(upstream);
    // Compressed responses of known length are read whole first, so the break is seen in time.
    const response = await fetch(`${base}/api/lists/${LIST}/todos`, { headers: { 'accept-encoding': 'gzip' } });
    expect(response.status).toBe(502);
    expect(response.headers.get('etag')).toBeNull();
    expect(((await response.json()) as { detail: string }).detail).toMatch(/invalid response|closed the connection/);
  });
});
