import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RedisServer, repoRoot, startRedis } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type RedisExporter, startRedisExporter } from './lib/redis-exporter.ts';
import { monitoringRuleGroups } from './lib/rules.ts';

// The monitoring component's redis_exporter sidecar, as Debian's real redis_exporter with the
// sidecar's arguments, against a real redis-server that requires a password (as in Kubernetes),
// logged in as a user with only the commands the README's ACL line grants it.

const PASSWORD = 'exporter-test-password';
const MONITOR = { username: 'monitor', password: 'monitor-test-password' };
/**
 * The permissions of the `monitor` user as deploy/redis/generate-acl writes it (the line of
 * users.acl.template, past its password hash): the login the monitoring component's README sets up.
 */
const MONITOR_ACL = (() => {
  const template = readFileSync(join(repoRoot, 'deploy/redis/users.acl.template'), 'utf8');
  const line = /^@monitor user monitor on #\S+ (.+)$/m.exec(template)?.[1];
  if (!line) throw new Error('deploy/redis/users.acl.template has no @monitor user line');
  return line;
})();

function exposition(text: string): Map<string, number> {
  const metrics = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match) metrics.set(match[1]!, Number(match[2]));
  }
  return metrics;
}

let redis: RedisServer;
const exporters: RedisExporter[] = [];
beforeAll(async () => {
  redis = await startRedis({ args: ['--requirepass', PASSWORD, '--maxmemory', '64mb'] });
  redis.cli(
    '-a',
    PASSWORD,
    '--no-auth-warning',
    'ACL',
    'SETUSER',
    MONITOR.username,
    'on',
    `>${MONITOR.password}`,
    ...MONITOR_ACL.split(' '),
  );
});
afterAll(async () => {
  for (const exporter of exporters) await exporter.stop();
  await redis?.destroy();
});

describe('redis_exporter with the sidecar arguments', () => {
  test('exports every redis_* series the alerts read, and Redis up', async () => {
    const exporter = await startRedisExporter(redis.port, MONITOR);
    exporters.push(exporter);
    const metrics = exposition(await (await fetch(`${exporter.url}/metrics`)).text());
    expect(metrics.get('redis_up')).toBe(1);
    expect(metrics.get('redis_memory_max_bytes')).toBe(64 * 1024 * 1024);
    const used = new Set(
      monitoringRuleGroups()
        .flatMap((group) => group.rules)
        .flatMap((rule) => rule.expr.match(/\bredis_[a-z_]+/g) ?? []),
    );
    expect([...used].sort()).toEqual([
      'redis_aof_last_write_status',
      'redis_memory_max_bytes',
      'redis_memory_used_bytes',
      'redis_rdb_last_bgsave_status',
      'redis_rejected_connections_total',
      'redis_up',
    ]);
    for (const name of used) expect(metrics.has(name), `${name} on redis_exporter's /metrics`).toBe(true);
    // The healthy values the alerts compare with.
    expect(metrics.get('redis_aof_last_write_status')).toBe(1);
    expect(metrics.get('redis_rdb_last_bgsave_status')).toBe(1);
    // Nothing it asked for was refused (a refused command shows in Redis's ACL log).
    expect(redis.cli('-a', PASSWORD, '--no-auth-warning', 'ACL', 'LOG')).toBe('');
  });

  test('never exports key names or client lists (they hold list ids)', async () => {
    redis.cli('-a', PASSWORD, '--no-auth-warning', 'SET', 'tasktier:list:AAAAAAAAAAAAAAAAAAAAAA:meta', 'x');
    const exporter = exporters[0]!;
    const text = await (await fetch(`${exporter.url}/metrics`)).text();
    expect(text).not.toContain('AAAAAAAAAAAAAAAAAAAAAA');
    expect(text).not.toMatch(/^redis_connected_client_details/m);
  });

  test('with the wrong password it reports Redis down (TasktierRedisExporterDown)', async () => {
    const exporter = await startRedisExporter(redis.port, { username: 'monitor', password: 'not-the-password' });
    exporters.push(exporter);
    const metrics = exposition(await (await fetch(`${exporter.url}/metrics`)).text());
    expect(metrics.get('redis_up')).toBe(0);
  });
});
