import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { ConfigError, loadConfig } from '../src/config.ts';

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
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
    try {
      loadConfig(env);
    } catch (error) {
      expect((error as Error).message).not.toContain('\n');
    }
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
