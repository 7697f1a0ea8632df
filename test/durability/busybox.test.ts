/**
 * The backup CronJob and the restore Job run the scripts in the redis:7-alpine image, whose shell
 * and tools are BusyBox's. This runs generate-acl, redis-backup and redis-restore with BusyBox's
 * sh and applets alone on PATH (plus the Redis binaries), end to end.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startRedis } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliAs, paths, type RedisServer, runScript, startDurableRedis, tempDir } from './lib/stack.ts';

const busybox = spawnSync('busybox', ['--list'], { encoding: 'utf8' });
const available = busybox.status === 0;
if (!available && process.env.TASKTIER_REQUIRE_ALL_SUITES === '1') {
  throw new Error(
    'busybox is needed to test the scripts as the Alpine-based Jobs run them (apt-get install -y busybox)',
  );
}
if (!available) {
  process.stdout.write('SKIPPED the scripts under BusyBox: busybox not found (apt-get install -y busybox)\n');
}

const scratch = tempDir('busybox');
const bin = join(scratch.dir, 'bin');
let redis: RedisServer;
const passwords = join(scratch.dir, 'passwords');

const which = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).stdout.trim();
const run = (script: string, args: string[], env: Record<string, string> = {}) =>
  runScript(script, args, env, { command: [join(bin, 'busybox'), 'sh'], pathOnly: bin });

beforeAll(() => {
  if (!available) return;
  mkdirSync(bin);
  const busyboxPath = which('busybox');
  symlinkSync(busyboxPath, join(bin, 'busybox'));
  for (const applet of busybox.stdout.split('\n').filter(Boolean)) {
    if (applet !== 'busybox') symlinkSync(busyboxPath, join(bin, applet));
  }
  for (const tool of ['redis-server', 'redis-cli', 'redis-check-rdb']) symlinkSync(which(tool), join(bin, tool));
});
afterAll(async () => {
  await redis?.destroy();
  scratch.remove();
});

describe.skipIf(!available)('the scripts under BusyBox (as in the redis:7-alpine image)', () => {
  it('generate the ACL, back up a live Redis and restore it to the same data', async () => {
    const acl = await run(paths.generateAcl, ['--password-dir', passwords, '--out', join(passwords, 'users.acl')]);
    expect(acl.code, acl.stderr).toBe(0);
    redis = await startDurableRedis('everysec', {
      args: ['--aclfile', join(passwords, 'users.acl'), '--enable-debug-command', 'yes'],
    });
    const admin = (...args: string[]) =>
      cliAs(
        redis.port,
        'admin',
        spawnSync('head', ['-n1', join(passwords, 'admin.password')])
          .stdout.toString()
          .trim(),
        ...args,
      );
    for (let i = 0; i < 50; i++)
      admin('HSET', `tt:list:{l${i}}`, 'createdAt', `2026-01-01T00:00:${i}Z`, 'v', String(i));
    const digest = admin('DEBUG', 'DIGEST');

    const backups = join(scratch.dir, 'backups');
    const backup = await run(paths.backup, [
      '--port',
      String(redis.port),
      '--password-file',
      join(passwords, 'backup.password'),
      '--dir',
      backups,
      '--keep',
      '1',
    ]);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/RDB looks OK \(50 keys\)/);

    const data = join(scratch.dir, 'restored');
    const restore = await run(paths.restore, ['--data-dir', data, backups]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/verified/);

    const restored = await startRedis({ dir: data, args: ['--appendonly', 'yes', '--enable-debug-command', 'yes'] });
    try {
      expect(restored.cli('DBSIZE')).toBe('50');
      expect(restored.cli('DEBUG', 'DIGEST')).toBe(digest);
    } finally {
      await restored.stop();
    }

    const refused = await run(paths.restore, ['--data-dir', data, backups]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already holds 50 keys/);
  });
});
