/**
 * Backups of a Redis Cluster, per shard (`redis-backup --cluster`): one consistent snapshot per
 * primary, each verified and checksummed; and their restore (`redis-restore --cluster`): each
 * shard's file loaded into a private redis-server and imported into the running cluster with
 * `redis-cli --cluster import --cluster-copy --cluster-replace`, which puts every key in whichever
 * shard serves its slot now (the slot layout may differ from the one backed up).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type RedisCluster, run, startRedis, startRedisCluster } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths, tempDir } from './lib/stack.ts';

const scratch = tempDir('cluster-backup');
let cluster: RedisCluster;

beforeAll(async () => {
  cluster = await startRedisCluster({ args: ['--repl-diskless-sync-delay', '0'] });
});
afterAll(async () => {
  await cluster?.stop();
  scratch.remove();
});

const LISTS = 60;
const seedPort = () => cluster.nodes[0]?.port ?? 0;
const cli = (...args: string[]) => cluster.cli(seedPort(), '-c', ...args);

/** Every list as the backend stores it: meta hash and todos hash under the list's hash tag. */
function snapshotOfLists(): Record<string, string> {
  const state: Record<string, string> = {};
  for (let i = 0; i < LISTS; i++) {
    for (const key of [`tt:list:{list${i}}`, `tt:todos:{list${i}}`]) state[key] = cli('HGETALL', key);
  }
  return state;
}

describe('redis-backup --cluster and the per-shard restore', () => {
  it('backs up each primary, verified, and the restore brings every list back', async () => {
    for (let i = 0; i < LISTS; i++) {
      cli('HSET', `tt:list:{list${i}}`, 'createdAt', '2026-12-02T00:00:00Z', 'v', String(i), 'seq', '1');
      cli('HSET', `tt:todos:{list${i}}`, `todo${i}`, JSON.stringify({ id: `todo${i}`, title: `todo ${i}` }));
    }
    const before = snapshotOfLists();
    const dir = join(scratch.dir, 'backups');
    const backup = await run(
      paths.backup,
      ['--cluster', '--port', String(seedPort()), '--user', 'default', '--dir', dir],
      { timeoutMs: 60_000 },
    );
    expect(backup.code, backup.output).toBe(0);
    expect(backup.stdout).toMatch(/cluster: 3 shards backed up/);
    const files = readdirSync(dir).filter((file) => file.endsWith('.rdb'));
    expect(files.map((file) => file.replace(/-\d{8}T\d{6}Z\.rdb$/, '')).sort()).toEqual(
      ['tasktier-shard0', 'tasktier-shard10923', 'tasktier-shard5461'].sort(),
    );
    for (const file of files) {
      const check = await run('sha256sum', ['-c', `${file}.sha256`], { cwd: dir });
      expect(check.code, check.output).toBe(0);
    }
    const kept = [...backup.stdout.matchAll(/RDB looks OK \((\d+) keys\)/g)].map((match) => Number(match[1]));
    expect(kept.reduce((a, b) => a + b, 0)).toBe(2 * LISTS);

    // A cluster holding data is refused without --force, and left as it is.
    const refused = await run(paths.restore, ['--cluster', '--port', String(seedPort()), '--user', 'default', dir]);
    expect(refused.code, refused.output).toBe(1);
    expect(refused.stderr).toMatch(
      /^redis-restore: error: the cluster already holds 120 keys that do not expire: refusing/,
    );
    expect(snapshotOfLists()).toEqual(before);

    // Disaster: every primary loses its data (replicas follow).
    for (const node of cluster.topology().filter((info) => info.role === 'primary' && info.slots > 0)) {
      cluster.cli(node.port, 'FLUSHALL');
    }
    expect(cli('DBSIZE')).toBe('0');

    // The restore: the newest file of each shard, verified and imported into the running cluster.
    const restore = await run(paths.restore, ['--cluster', '--port', String(seedPort()), '--user', 'default', dir], {
      timeoutMs: 120_000,
    });
    expect(restore.code, restore.output).toBe(0);
    expect(restore.stdout).toContain('redis-restore: 3 shard backups in');
    expect(restore.stdout.match(/checksum matches/g)).toHaveLength(3);
    expect(restore.stdout).toContain('redis-restore: verified: the cluster holds 120 keys that do not expire');
    expect(snapshotOfLists()).toEqual(before);
  });

  it('fails in one line naming the node when it is pointed at a Redis not in cluster mode', async () => {
    const plain = await startRedis();
    try {
      const result = await run(paths.backup, [
        '--cluster',
        '--port',
        String(plain.port),
        '--user',
        'default',
        '--dir',
        scratch.dir,
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^redis-backup: error: 127\.0\.0\.1:\d+ reports no primary serving slots/);
    } finally {
      await plain.destroy();
    }
  });
});
