import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, makePublicDir, type TestApp } from './helpers.ts';

let publicDir: ReturnType<typeof makePublicDir>;
let app: TestApp;

beforeAll(async () => {
  publicDir = makePublicDir();
  app = await buildTestApp(publicDir.dir, { APP_VERSION: '1.2.3', APP_REVISION: 'abc123' });
});
afterAll(async () => {
  await app?.close();
  publicDir?.cleanup();
});

describe('health, version, metrics, request ids', () => {
  it('is live and ready while the backend is down (the UI can still be served)', async () => {
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect((await app.inject({ url: '/api/lists', method: 'POST' })).statusCode).toBe(502);
  });

  it('is unready while draining, and asks clients to close keep-alive connections', async () => {
    const draining = await buildTestApp(publicDir.dir);
    try {
      draining.lifecycle.draining = true;
      const ready = await draining.inject({ url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ status: 'draining' });
      const page = await draining.inject({ url: '/' });
      expect(page.statusCode).toBe(200);
      expect(page.headers.connection).toBe('close');
    } finally {
      await draining.close();
    }
  });

  it('reports its version', async () => {
    const version = (await app.inject({ url: '/version' })).json();
    // Public through the Ingress: no revision, no runtime (those are in the metrics' build_info).
    expect(version).toEqual({ service: 'frontend', version: '1.2.3' });
  });

  it('exposes Prometheus metrics from its own registry', async () => {
    await app.inject({ url: '/' });
    await app.inject({ url: '/api/lists', method: 'POST' });
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(404);
    const text = await app.metricsRegistry.metrics();
    expect(text).toMatch(/tasktier_frontend_build_info\{version="1.2.3",revision="abc123",node="v\d+/);
    expect(text).toMatch(
      /tasktier_frontend_http_request_duration_seconds_count\{method="GET",route="\/",status_code="200"\} [1-9]/,
    );
    expect(text).toMatch(/tasktier_frontend_upstream_errors_total\{kind="refused"\} [1-9]/);
    expect(text).toContain('tasktier_frontend_sse_streams 0');
    expect(text).toContain('process_cpu_user_seconds_total');
    // A second app in the same process has its own counters (no global registry).
    const other = await buildTestApp(publicDir.dir);
    try {
      const otherText = await other.metricsRegistry.metrics();
      expect(otherText).not.toMatch(/tasktier_frontend_upstream_errors_total\{kind="refused"\} [1-9]/);
    } finally {
      await other.close();
    }
  });

  it('echoes a sent X-Request-Id, or makes one; malformed ones are replaced', async () => {
    const sent = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'ingress-42.a:b' } });
    expect(sent.headers['x-request-id']).toBe('ingress-42.a:b');
    const made = await app.inject({ url: '/healthz' });
    expect(made.headers['x-request-id']).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const hostile = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'a b\u00e9<script>' } });
    expect(hostile.headers['x-request-id']).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });
});
