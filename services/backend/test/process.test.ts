import { spawnSync } from 'node:child_process';
import { COMMON_ANY_STRING, COMMON_BAD_VALUES, serviceScript } from '@tasktier/testkit';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../src/config.ts';

/** A value each variable refuses; the variables that take any string have none. */
const BAD_VALUES: Record<string, string> = {
  ...COMMON_BAD_VALUES,
  REDIS_URL: 'http://127.0.0.1:6379',
  REDIS_KEY_PREFIX: 'tt key',
  REDIS_COMMAND_TIMEOUT_MS: '10',
  REDIS_CLUSTER_NODES: 'redis-0:6379,redis-1',
  REDIS_CLUSTER_WAIT_REPLICAS: '-1',
  REDIS_CLUSTER_WAIT_TIMEOUT_MS: 'soon',
  SSE_HEARTBEAT_MS: 'often',
  MAX_TODOS_PER_LIST: '0',
  MAX_LIST_BYTES: '1000',
  EMPTY_LIST_TTL_SECONDS: '-1',
  RATE_LIMITS: 'maybe',
  LIST_CREATES_PER_MINUTE: '0',
  READS_PER_MINUTE: '1.5',
  WRITES_PER_MINUTE: 'many',
  EVENT_STREAMS_PER_CLIENT: '0',
  MAX_EVENT_STREAMS: '0',
};
const ANY_STRING = [...COMMON_ANY_STRING, 'REDIS_USERNAME', 'REDIS_PASSWORD', 'CORS_ORIGINS'];

describe('dist/server.js', () => {
  it('has a bad value in this test for every variable that does not take any string', () => {
    expect(Object.keys(ConfigSchema.properties).sort()).toEqual([...Object.keys(BAD_VALUES), ...ANY_STRING].sort());
  });

  it.each(Object.entries(BAD_VALUES))('refuses %s=%j with one line on stderr and exit code 1', (name, value) => {
    const result = spawnSync(process.execPath, [serviceScript('backend')], {
      env: { ...process.env, PORT: '0', METRICS_PORT: '0', [name]: value },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(new RegExp(`^tasktier-backend: invalid configuration: ${name}\\b`));
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
