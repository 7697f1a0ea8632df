import { LIST_ID_PATTERN, TITLE_MAX_LENGTH } from '@tasktier/contract';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, trustProxySetting } from '../src/config.ts';
import * as ui from '../ui/src/limits.ts';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 8080,
      HOST: '0.0.0.0',
      BACKEND_URL: 'http://127.0.0.1:5000',
      UPSTREAM_TIMEOUT_MS: 10000,
      DRAIN_DELAY_MS: 5000,
      SHUTDOWN_TIMEOUT_MS: 10000,
      LOG_LEVEL: 'info',
      TRUST_PROXY: 'loopback,linklocal,uniquelocal',
    });
  });

  it('reads numbers from the environment', () => {
    expect(loadConfig({ PORT: '9000', UPSTREAM_TIMEOUT_MS: '2500' })).toMatchObject({
      PORT: 9000,
      UPSTREAM_TIMEOUT_MS: 2500,
    });
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ UPSTREAM_TIMEOUT_MS: '5' }, /UPSTREAM_TIMEOUT_MS/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ BACKEND_URL: 'ftp://backend' }, /BACKEND_URL/],
    [{ BACKEND_URL: 'http://backend:5000/api' }, /BACKEND_URL must be an origin only/],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    try {
      loadConfig(env);
    } catch (error) {
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('never echoes a credential put in BACKEND_URL', () => {
    try {
      loadConfig({ BACKEND_URL: 'http://admin:s3cret-pass@backend:5000' });
      expect.unreachable('should have thrown');
    } catch (error) {
      expect((error as Error).message).toMatch(/BACKEND_URL must not contain credentials/);
      expect((error as Error).message).not.toContain('s3cret');
    }
  });

  it('turns TRUST_PROXY into what Fastify takes', () => {
    expect(trustProxySetting('true')).toBe(true);
    expect(trustProxySetting('false')).toBe(false);
    expect(trustProxySetting('')).toBe(false);
    expect(trustProxySetting('10.0.0.0/8, loopback')).toBe('10.0.0.0/8, loopback');
  });

  it('the UI uses the same limits as the API contract', () => {
    expect(ui.LIST_ID_PATTERN).toBe(LIST_ID_PATTERN);
    expect(ui.TITLE_MAX_LENGTH).toBe(TITLE_MAX_LENGTH);
  });
});
