import { request } from 'node:http';
import { getFreePort, type RedisServer, serviceScript, startService, waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis } from './helpers.ts';

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

/** Starts a POST whose body is sent later: a request that is in flight for as long as we like. */
function slowPost(url: string, body: string) {
  const chunks: Buffer[] = [];
  let finishBody = (): void => {};
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, 5));
    req.flushHeaders();
    finishBody = () => req.end(body.slice(5));
  });
  return { response, finish: () => finishBody() };
}

describe('graceful shutdown on SIGTERM', () => {
  it('turns unready at once, serves through the drain delay, finishes in-flight requests, exits 0', async () => {
    const port = await getFreePort();
    const base = `http://127.0.0.1:${port}`;
    const service = await startService({
      name: 'backend',
      script: serviceScript('backend'),
      env: { PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redis.url, DRAIN_DELAY_MS: '1500' },
      readyUrl: `${base}/readyz`,
    });
    const { id } = (await (await fetch(`${base}/api/lists`, { method: 'POST' })).json()) as { id: string };
    const inFlight = slowPost(`${base}/api/lists/${id}/todos`, JSON.stringify({ title: 'in flight at SIGTERM' }));

    const exit = service.stop('SIGTERM');
    await waitFor('readiness to turn 503', async () => (await fetch(`${base}/readyz`)).status === 503, {
      timeoutMs: 1000,
    });

    // Still serving during the drain: new requests and the in-flight one complete.
    const during = await fetch(`${base}/api/lists/${id}/todos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'sent during the drain' }),
    });
    expect(during.status).toBe(201);
    expect(during.headers.get('connection')).toBe('close');
    inFlight.finish();
    expect((await inFlight.response).status).toBe(201);

    expect(await exit).toBe(0);
    expect(service.output()).toContain('"msg":"draining"');
    expect(service.output()).toContain('"msg":"stopped"');
    expect(redis.cli('HLEN', `tt:todos:{${id}}`)).toBe('2');
  });

  it('ends open event streams at the end of the drain so browsers reconnect elsewhere', async () => {
    const port = await getFreePort();
    const base = `http://127.0.0.1:${port}`;
    const service = await startService({
      name: 'backend',
      script: serviceScript('backend'),
      env: { PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redis.url, DRAIN_DELAY_MS: '300' },
      readyUrl: `${base}/readyz`,
    });
    const { id } = (await (await fetch(`${base}/api/lists`, { method: 'POST' })).json()) as { id: string };
    const stream = await fetch(`${base}/api/lists/${id}/events`);
    const reader = stream.body!.getReader();
    await reader.read();
    const exit = service.stop('SIGTERM');
    let done = false;
    while (!done) done = (await reader.read()).done;
    expect(done).toBe(true);
    expect(await exit).toBe(0);
  });
});
