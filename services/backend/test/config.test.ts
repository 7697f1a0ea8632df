import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { ConfigError, clusterSeeds, loadConfig } from '../src/config.ts';

describe('configuration', () => {
  it('has the documented defaults for the limits and trusts no proxy', () => {
    expect(loadConfig({})).toMatchObject({
      TRUST_PROXY: '',
      RATE_LIMITS: 'on',
      LIST_CREATES_PER_MINUTE: 10,
      READS_PER_MINUTE: 1200,
      WRITES_PER_MINUTE: 600,
      EVENT_STREAMS_PER_CLIENT: 100,
      MAX_EVENT_STREAMS: 10000,
    });
  });

  it.each(['false', 'true', '', 'loopback', '10.0.0.0/8, ::1'])(
    'accepts TRUST_PROXY=%j as the frontend does',
    async (value) => {
      const app = await buildApp(loadConfig({ TRUST_PROXY: value, RATE_LIMITS: 'off' }), { logger: false });
      await app.close();
    },
  );

  it.each([
    [{ TRUST_PROXY: 'loopback, not-an-address' }, /TRUST_PROXY must be/],
    [{ RATE_LIMITS: 'maybe' }, /RATE_LIMITS/],
    [{ LIST_CREATES_PER_MINUTE: '0' }, /LIST_CREATES_PER_MINUTE/],
    [{ REDIS_CLUSTER_NODES: 'redis-0:6379, redis-1' }, /REDIS_CLUSTER_NODES must be comma-separated host:port/],
    [{ REDIS_CLUSTER_NODES: 'redis-0:6379,redis-1:70000' }, /REDIS_CLUSTER_NODES/],
    [{ REDIS_CLUSTER_NODES: 'redis://redis-0:6379' }, /REDIS_CLUSTER_NODES/],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
    try {
      loadConfig(env);
    } catch (error) {
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('reads REDIS_CLUSTER_NODES as host:port seeds (names, IPv4, IPv6) and an empty value as unset', () => {
    expect(clusterSeeds('redis-0.redis:6379, 10.0.0.7:7000,[fd00::1]:6380')).toEqual([
      { host: 'redis-0.redis', port: 6379 },
      { host: '10.0.0.7', port: 7000 },
      { host: 'fd00::1', port: 6380 },
    ]);
    expect(loadConfig({ REDIS_CLUSTER_NODES: '' }).REDIS_CLUSTER_NODES).toBe('');
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'secret-host:pw@6379' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('secret-host') }),
    );
  });

  it('believes X-Forwarded-For only from a trusted proxy', async () => {
    const seen = async (trustProxy: string, remoteAddress: string) => {
      const app = await buildApp(loadConfig({ TRUST_PROXY: trustProxy, RATE_LIMITS: 'off' }), { logger: false });
      app.get('/ip', (request) => request.ip);
      try {
        return (await app.inject({ url: '/ip', remoteAddress, headers: { 'x-forwarded-for': '203.0.113.5' } })).body;
      } finally {
        await app.close();
      }
    };
    expect(await seen('', '127.0.0.1')).toBe('127.0.0.1');
    expect(await seen('false', '127.0.0.1')).toBe('127.0.0.1');
    expect(await seen('loopback', '10.1.1.1')).toBe('10.1.1.1');
    expect(await seen('loopback', '127.0.0.1')).toBe('203.0.113.5');
    expect(await seen('true', '10.1.1.1')).toBe('203.0.113.5');
  });
});
