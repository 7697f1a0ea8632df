import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { COMMON_ANY_STRING, COMMON_BAD_VALUES, getFreePort, startService, waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../src/config.ts';
import { startUpstream, type Upstream } from './helpers.ts';

/** The production bundle, as `npm start` and the image run it. Built by `npm test` before the suites. */
const script = fileURLToPath(new URL('../dist/server.js', import.meta.url));

/** A value each variable refuses; the variables that take any string have none. */
const BAD_VALUES: Record<string, string> = {
  ...COMMON_BAD_VALUES,
  BACKEND_URL: 'backend:5000',
  UPSTREAM_TIMEOUT_MS: '5',
  UPSTREAM_CONNECT_TIMEOUT_MS: 'soon',
  UPSTREAM_CONNECTIONS: '0',
  MAX_EVENT_STREAMS: '1.5',
  PUBLIC_DIR: '',
};
const ANY_STRING = COMMON_ANY_STRING;

let upstream: Upstream;
beforeAll(async () => {
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build -w @tasktier/frontend first`);
  // A backend whose event streams stay open until the client or the frontend ends them.
  upstream = await startUpstream((req, res) => {
    if (req.url?.endsWith('/events')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ready\ndata: {"version":1}\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('[]');
  });
});
afterAll(async () => {
  await upstream?.close();
});

describe('dist/server.js', () => {
  it('has a bad value in this test for every variable that does not take any string', () => {
    expect(Object.keys(ConfigSchema.properties).sort()).toEqual([...Object.keys(BAD_VALUES), ...ANY_STRING].sort());
  });

  it.each<[Record<string, string>, RegExp]>([
    ...Object.entries(BAD_VALUES).map(([name, value]): [Record<string, string>, RegExp] => [
      { [name]: value },
      new RegExp(`^frontend: invalid configuration: ${name}\\b`),
    ]),
    [
      { BACKEND_URL: 'http://backend:5000/api' },
      /^frontend: invalid configuration: BACKEND_URL must be an origin only/,
    ],
    [{ PUBLIC_DIR: '/nonexistent' }, /^frontend: the UI build is missing/],
  ])('refuses %o with one line on stderr and exit code 1', (env, message) => {
    const result = spawnSync(process.execPath, [script], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('serves /metrics on METRICS_PORT only, and exits 1 when that port is taken', async () => {
    const port = await getFreePort();
    const metricsPort = await getFreePort();
    const service = await startService({
      name: 'frontend',
      script,
      env: { PORT: String(port), METRICS_PORT: String(metricsPort), HOST: '127.0.0.1', BACKEND_URL: upstream.url },
      readyUrl: `http://127.0.0.1:${port}/readyz`,
    });
    try {
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^tasktier_frontend_build_info\{.*node="v/m);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/`)).status).toBe(404);
      // A second process on the same metrics port cannot serve metrics: it says so and exits.
      const clash = spawnSync(process.execPath, [script], {
        env: { ...process.env, PORT: '0', METRICS_PORT: String(metricsPort), HOST: '127.0.0.1', LOG_LEVEL: 'error' },
        encoding: 'utf8',
        timeout: 10_000,
      });
      expect(clash.status).toBe(1);
      expect(clash.stdout).toMatch(/EADDRINUSE.*"msg":"could not listen"/);
    } finally {
      await service.stop();
    }
  });

  it('on SIGTERM: unready at once, serves through the drain, ends event streams, exits 0', async () => {
    const port = await getFreePort();
    const base = `http://127.0.0.1:${port}`;
    const service = await startService({
      name: 'frontend',
      script,
      env: { PORT: String(port), HOST: '127.0.0.1', BACKEND_URL: upstream.url, DRAIN_DELAY_MS: '1000' },
      readyUrl: `${base}/readyz`,
    });
    // A browser's live-sync stream, open through the frontend.
    let streamText = '';
    let streamEnded = false;
    const streamReq = request(`${base}/api/lists/AbCdEfGhIjKlMnOpQrStUv/events`, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        streamText += chunk;
      });
      res.on('end', () => {
        streamEnded = true;
      });
    });
    streamReq.end();
    await waitFor('the event stream to open', () => streamText.includes('event: ready'));

    const exit = service.stop('SIGTERM');
    await waitFor('readiness to turn 503', async () => (await fetch(`${base}/readyz`)).status === 503);
    // Still serving during the drain: the UI and the API.
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('connection')).toBe('close');
    expect((await fetch(`${base}/api/lists/AbCdEfGhIjKlMnOpQrStUv/todos`)).status).toBe(200);
    expect(streamEnded).toBe(false);

    expect(await exit).toBe(0);
    // 'end' means a clean end of the chunked body (a reset would be 'aborted'): browsers then reconnect.
    await waitFor('the event stream to end cleanly', () => streamEnded);
    const lines = service.output().trim().split('\n');
    expect(lines.some((line) => line.includes('"msg":"draining"'))).toBe(true);
    // Logs are JSON, one line per request, with the request id.
    const requestLines = lines.filter((line) => line.includes('"msg":"request"')).map((line) => JSON.parse(line));
    expect(requestLines.length).toBeGreaterThan(2);
    expect(requestLines[0]).toMatchObject({ method: 'GET', status: expect.any(Number), requestId: expect.any(String) });
  });
});
