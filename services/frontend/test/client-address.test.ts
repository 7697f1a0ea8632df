import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getFreePort, type RedisServer, type Service, startRedis, startService } from '@tasktier/testkit';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The client address the backend's limits are keyed on, through the real frontend and backend
 * (production bundles) as `npm start` runs them: the backend trusts its proxy on loopback, the
 * frontend trusts nobody. Clients are played by binding to other loopback source addresses.
 */
const bundle = (service: string) => fileURLToPath(new URL(`../../${service}/dist/server.js`, import.meta.url));
const PER_MINUTE = 3;

let redis: RedisServer;
const services: Service[] = [];
let frontendUrl: string;
const agents = new Map<string, Agent>();

beforeAll(async () => {
  for (const service of ['backend', 'frontend']) {
    if (!existsSync(bundle(service))) throw new Error(`${bundle(service)} is missing: run npm run build first`);
  }
  redis = await startRedis();
  const backendPort = await getFreePort();
  services.push(
    await startService({
      name: 'backend',
      script: bundle('backend'),
      env: {
        PORT: String(backendPort),
        HOST: '127.0.0.1',
        REDIS_URL: redis.url,
        LOG_LEVEL: 'warn',
        DRAIN_DELAY_MS: '0',
        TRUST_PROXY: 'loopback',
        LIST_CREATES_PER_MINUTE: String(PER_MINUTE),
      },
      readyUrl: `http://127.0.0.1:${backendPort}/readyz`,
    }),
  );
  const frontendPort = await getFreePort();
  frontendUrl = `http://127.0.0.1:${frontendPort}`;
  services.push(
    await startService({
      name: 'frontend',
      script: bundle('frontend'),
      env: {
        PORT: String(frontendPort),
        HOST: '127.0.0.1',
        BACKEND_URL: `http://127.0.0.1:${backendPort}`,
        LOG_LEVEL: 'warn',
        DRAIN_DELAY_MS: '0',
      },
      readyUrl: `${frontendUrl}/readyz`,
    }),
  );
});
afterAll(async () => {
  await Promise.all([...agents.values()].map((agent) => agent.close()));
  for (const service of services.reverse()) await service.stop();
  await redis?.destroy();
});

/** POST /api/lists through the frontend from `localAddress`, with whatever headers the client chooses. */
async function createList(localAddress: string, headers: Record<string, string> = {}) {
  const agent = agents.get(localAddress) ?? new Agent({ localAddress });
  agents.set(localAddress, agent);
  const response = await request(`${frontendUrl}/api/lists`, { method: 'POST', headers, dispatcher: agent });
  await response.body.text();
  return { status: response.statusCode, retryAfter: response.headers['retry-after'] };
}

describe('the client address behind the frontend', () => {
  it('cannot be chosen by the client: a spoofed X-Forwarded-For does not escape the list-creation limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < PER_MINUTE + 3; i++) {
      const spoofed = `203.0.113.${i + 1}`;
      const answer = await createList('127.0.0.2', {
        'x-forwarded-for': `${spoofed}, 198.51.100.${i + 1}`,
        forwarded: `for=${spoofed}`,
        'x-real-ip': spoofed,
      });
      statuses.push(answer.status);
      if (answer.status === 429) expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    expect(statuses).toEqual([...Array(PER_MINUTE).fill(201), 429, 429, 429]);
    // The backend counted the real address, and only it.
    expect(redis.cli('--scan', '--pattern', 'tt:rl:listCreates:*').split('\n').sort()).toEqual([
      'tt:rl:listCreates:127.0.0.2',
    ]);
  });

  it('gives two real client addresses separate budgets', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < PER_MINUTE; i++) statuses.push((await createList('127.0.0.3')).status);
    expect(statuses).toEqual(Array(PER_MINUTE).fill(201));
    expect((await createList('127.0.0.3')).status).toBe(429);
    expect((await createList('127.0.0.2')).status).toBe(429);
  });
});
