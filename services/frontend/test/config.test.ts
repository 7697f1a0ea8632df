import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LIST_ID_PATTERN, TITLE_MAX_LENGTH } from '@tasktier/contract';
import * as ui from '@tasktier/contract/constants';
import { trustedProxies } from '@tasktier/service-kit';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

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
      TRUST_PROXY: '',
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
    [{ TRUST_PROXY: 'loopback, nonsense' }, /TRUST_PROXY must be/],
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
    expect(trustedProxies('true').fastify).toBe(true);
    expect(trustedProxies('false').fastify).toBe(false);
    expect(trustedProxies('').fastify).toBe(false);
    const list = trustedProxies('10.0.0.0/8, loopback');
    expect(list.trusts('10.1.2.3')).toBe(true);
    expect(list.trusts('127.0.0.1')).toBe(true);
    expect(list.trusts('192.168.1.1')).toBe(false);
  });

  it('the UI uses the same limits as the API contract', () => {
    // The UI imports them from the contract's TypeBox-free module; the API's schemas from its main entry.
    expect(ui.LIST_ID_PATTERN).toBe(LIST_ID_PATTERN);
    expect(ui.TITLE_MAX_LENGTH).toBe(TITLE_MAX_LENGTH);
  });

  it('the UI takes the contract only from its TypeBox-free module at run time', () => {
    // The constants module imports nothing, so the browser bundle gets no schema library with it.
    const constants = readFileSync(fileURLToPath(import.meta.resolve('@tasktier/contract/constants')), 'utf8');
    expect(constants).not.toMatch(/^\s*(import|export .* from)\b/m);
    const uiDir = fileURLToPath(new URL('../ui/src/', import.meta.url));
    const files = readdirSync(uiDir, { recursive: true, encoding: 'utf8' }).filter((name) => /\.tsx?$/.test(name));
    expect(files).toContain('main.tsx');
    for (const file of files) {
      const source = readFileSync(`${uiDir}${file}`, 'utf8');
      const runtime = [...source.matchAll(/^import (?!type )[^;]*from '(@tasktier\/[^']+)'/gm)].map((m) => m[1]);
      expect(
        runtime.filter((name) => name !== '@tasktier/contract/constants'),
        file,
      ).toEqual([]);
    }
  });
});
