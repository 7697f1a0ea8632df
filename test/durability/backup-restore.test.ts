/**
 * Backup and restore with the real scripts (deploy/scripts/redis-backup, redis-restore) against a
 * real Redis with the ACL users, and the real backend: many lists and todos go in through the API,
 * a backup is taken from the live server, the data directory is wiped, the backup restored, and
 * every list and todo is compared field by field. Then every way a restore must refuse.
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Todo } from '@tasktier/contract';
import { startRedis, waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, mapLimit } from './lib/api.ts';
import { checkInvariants } from './lib/invariants.ts';
import { acknowledged, WriteLoad } from './lib/load.ts';
import {
  type AclSetup,
  type Backend,
  cliAs,
  generateAcl,
  paths,
  type RedisServer,
  runScript,
  type ScriptResult,
  startBackend,
  startDurableRedis,
  tempDir,
} from './lib/stack.ts';

const LISTS = 40;

const scratch = tempDir('backup');
const dataDir = join(scratch.dir, 'data');
const backupDir = join(scratch.dir, 'backups');
let acl: AclSetup;
let redis: RedisServer;
let backend: Backend | undefined;

beforeAll(async () => {
  mkdirSync(dataDir);
  acl = generateAcl(join(scratch.dir, 'acl'));
  redis = await startDurableRedis('everysec', { dir: dataDir, args: ['--aclfile', acl.file] });
});
afterAll(async () => {
  await backend?.stop();
  await redis?.destroy();
  scratch.remove();
});

const backupEnv = () => ({ REDIS_PASSWORD: acl.passwords.backup });
const backupArgs = (...more: string[]) => ['--port', String(redis.port), '--dir', backupDir, ...more];
const admin = (...args: string[]) => cliAs(redis.port, 'admin', acl.passwords.admin, ...args);

/** A failure: exit status 1, exactly one line on stderr, matching `pattern`. */
function expectOneLineError(result: ScriptResult, pattern: RegExp): void {
  expect(result.code, result.stdout + result.stderr).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

/** Every file under `dir` with its SHA-256: to show a refused restore changed nothing. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else
        out[rel] = createHash('sha256')
          .update(readFileSync(join(dir, rel)))
          .digest('hex');
    }
  };
  walk('');
  return out;
}

interface Snapshot {
  list: Record<string, unknown>;
  todos: Todo[];
}

/** Every list and its todos through the API; URLs relative, as the restored backend has another port. */
async function snapshot(api: Api, listIds: string[]): Promise<Map<string, Snapshot>> {
  const result = new Map<string, Snapshot>();
  await mapLimit(listIds, 8, async (listId) => {
    const list = await api.getList(listId);
    expect(list.status).toBe(200);
    const todos = await api.getTodos(listId);
    result.set(listId, JSON.parse(JSON.stringify({ list: list.body, todos }).replaceAll(api.base, '')) as Snapshot);
  });
  return result;
}

/** Lists with 0-30 todos each: titles with Unicode and quotes, order, completed, edits, deletions. */
async function seed(api: Api): Promise<string[]> {
  const listIds = await mapLimit(
    Array.from({ length: LISTS }, (_, i) => i),
    8,
    () => api.createList(),
  );
  await mapLimit(listIds, 8, async (listId, l) => {
    const count = (l * 7) % 31;
    const ids: string[] = [];
    for (let t = 0; t < count; t++) {
      const todo = await api.createTodo(listId, {
        title: `list ${l} todo ${t} — «${'é'.repeat(t % 5)}» "quoted" \\ ${'🙂'.repeat(t % 3)}`,
        ...(t % 4 === 0 ? { order: t * 10 - 5 } : {}),
        ...(t % 5 === 0 ? { completed: true } : {}),
      });
      ids.push(todo.id);
    }
    for (let t = 0; t < ids.length; t += 3) await api.patchTodo(listId, ids[t]!, { completed: t % 2 === 0, order: t });
    for (let t = 1; t < ids.length; t += 6) await api.patchTodo(listId, ids[t]!, { title: `edited ${t}` });
    for (let t = 2; t < ids.length; t += 9) await api.deleteTodo(listId, ids[t]!);
  });
  return listIds;
}

describe('backup and restore round trip', () => {
  it('restores every list and every todo exactly as backed up', async () => {
    backend = await startBackend(redis.url, { REDIS_USERNAME: 'backend', REDIS_PASSWORD: acl.passwords.backend });
    const api = new Api(backend.url);
    const listIds = await seed(api);
    const expected = await snapshot(api, listIds);
    const todoTotal = [...expected.values()].reduce((sum, s) => sum + s.todos.length, 0);

    const backup = await runScript(paths.backup, backupArgs('--keep', '3'), backupEnv());
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toBe('');
    expect(backup.stdout).toMatch(/taking a snapshot/);
    expect(backup.stdout).toMatch(/RDB looks OK \(\d+ keys\)/);
    const files = readdirSync(backupDir).sort();
    expect(files).toHaveLength(2);
    const [rdb, sum] = files as [string, string];
    expect(rdb).toMatch(/^tasktier-\d{8}T\d{6}Z\.rdb$/);
    expect(sum).toBe(`${rdb}.sha256`);
    const digest = createHash('sha256')
      .update(readFileSync(join(backupDir, rdb)))
      .digest('hex');
    expect(readFileSync(join(backupDir, sum), 'utf8')).toBe(`${digest}  ${rdb}\n`);
    // The whole database: readable by the Redis user only.
    for (const file of files) expect(statSync(join(backupDir, file)).mode & 0o077, file).toBe(0);

    // A change after the backup: the restore must not have it.
    const later = await api.createList();

    await backend.stop();
    backend = undefined;
    await redis.stop();
    for (const entry of readdirSync(dataDir)) rmSync(join(dataDir, entry), { recursive: true });

    const restore = await runScript(paths.restore, ['--data-dir', dataDir, join(backupDir, rdb)]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/checksum matches/);
    expect(restore.stdout).toMatch(/verified: the restored files load to the same \d+ keys and digest/);
    console.log(
      `backup of ${LISTS} lists / ${todoTotal} todos (${statSync(join(backupDir, rdb)).size} bytes): ` +
        `backup ${backup.ms.toFixed(0)} ms, restore ${restore.ms.toFixed(0)} ms`,
    );

    await redis.restart();
    backend = await startBackend(redis.url, { REDIS_USERNAME: 'backend', REDIS_PASSWORD: acl.passwords.backend });
    const restoredApi = new Api(backend.url);
    const actual = await snapshot(restoredApi, listIds);
    let compared = 0;
    for (const [listId, want] of expected) {
      const got = actual.get(listId)!;
      expect(got.list, `list ${listId}`).toEqual(want.list);
      expect(got.todos.map((todo) => todo.id)).toEqual(want.todos.map((todo) => todo.id));
      for (const [index, todo] of want.todos.entries()) {
        const restored = got.todos[index]! as unknown as Record<string, unknown>;
        for (const [field, value] of Object.entries(todo)) {
          expect(restored[field], `list ${listId} todo ${todo.id} field ${field}`).toEqual(value);
          compared++;
        }
        expect(Object.keys(restored).sort()).toEqual(Object.keys(todo).sort());
      }
    }
    console.log(`compared ${expected.size} lists and ${todoTotal} todos, ${compared} todo fields: all equal`);
    expect(compared).toBeGreaterThan(1000);
    expect((await restoredApi.getList(later)).status).toBe(404);
    expect(checkInvariants(admin).problems).toEqual([]);
    await backend.stop();
    backend = undefined;
  });
});

describe('a backup taken under write load', () => {
  it('is one consistent point in time: every write done before it started, none sent after it ended, nothing half-written', async () => {
    backend = await startBackend(redis.url, { REDIS_USERNAME: 'backend', REDIS_PASSWORD: acl.passwords.backend });
    const api = new Api(backend.url);
    const listIds = await mapLimit([0, 1, 2, 3, 4, 5], 3, () => api.createList());
    const load = new WriteLoad(api, listIds);
    const dir = join(scratch.dir, 'under-load');
    try {
      await waitFor('writes before the backup', () => load.count(acknowledged) >= 200, { timeoutMs: 30_000 });
      const backupStarted = performance.now();
      const result = await runScript(paths.backup, ['--port', String(redis.port), '--dir', dir], backupEnv());
      const backupEnded = performance.now();
      expect(result.code, result.stderr).toBe(0);
      await waitFor(
        'writes after the backup',
        () => load.count((op) => acknowledged(op) && op.sentAt > backupEnded) >= 50,
        {
          timeoutMs: 30_000,
        },
      );
      await load.stop();

      const restoredDir = join(scratch.dir, 'under-load-restored');
      const restore = await runScript(paths.restore, ['--data-dir', restoredDir, dir]);
      expect(restore.code, restore.stderr).toBe(0);
      const restored = await startRedis({ dir: restoredDir, args: ['--appendonly', 'yes'] });
      try {
        expect(checkInvariants(restored.cli).problems).toEqual([]);
        const ids = new Set<string>();
        for (const listId of listIds) {
          for (const json of restored.cli('HVALS', `tt:todos:{${listId}}`).split('\n').filter(Boolean)) {
            ids.add((JSON.parse(json) as { id: string }).id);
          }
        }
        const creates = load.ops.filter((op) => op.kind === 'create' && acknowledged(op));
        const before = creates.filter((op) => op.doneAt < backupStarted);
        const after = creates.filter((op) => op.sentAt > backupEnded);
        const missing = before.filter((op) => !ids.has(op.todoId!));
        console.log(
          `backup under load: ${ids.size} todos in the backup; ${before.length} created before it started, ${after.length} after it ended`,
        );
        expect(missing).toEqual([]);
        expect(after.filter((op) => ids.has(op.todoId!))).toEqual([]);
      } finally {
        await restored.stop();
      }
    } finally {
      await load.stop();
      await backend.stop();
      backend = undefined;
    }
  });
});

describe('backup failures', () => {
  it('keeps only the newest --keep backups', async () => {
    for (let i = 0; i < 4; i++) {
      const result = await runScript(paths.backup, backupArgs('--keep', '2'), backupEnv());
      expect(result.code, result.stderr).toBe(0);
    }
    const rdbs = readdirSync(backupDir).filter((name) => name.endsWith('.rdb'));
    expect(rdbs).toHaveLength(2);
    expect(readdirSync(backupDir)).toHaveLength(4);
  });

  it.each([
    ['a wrong password', { REDIS_PASSWORD: 'wrong-password-0123456789' }, [], /refused user 'backup'/],
    ['no password', {}, [], /needs a password/],
    ["the backend's user (may not snapshot)", {}, ['--user', 'backend'], /snapshot transfer failed.*NOPERM|NOPERM/],
    ['a port with no Redis', {}, ['--port', '1'], /cannot reach Redis/],
    ['an unknown option', {}, ['--bogus'], /unknown argument/],
  ] as Array<[string, Record<string, string>, string[], RegExp]>)(
    'fails with one line for %s, leaving nothing',
    async (_, env, extra, pattern) => {
      const before = readdirSync(backupDir).sort();
      const password =
        extra.includes('backend') && !env.REDIS_PASSWORD ? { REDIS_PASSWORD: acl.passwords.backend } : env;
      const result = await runScript(paths.backup, [...backupArgs(), ...extra], password);
      expectOneLineError(result, pattern);
      expect(readdirSync(backupDir).sort()).toEqual(before);
    },
  );

  it('has --help', async () => {
    for (const script of [paths.backup, paths.restore, paths.generateAcl]) {
      const result = await runScript(script, ['--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Usage: /);
    }
  });
});

describe('restore refusals', () => {
  let good: string;
  const restoreInto = (dir: string, backup: string, ...more: string[]) =>
    runScript(paths.restore, ['--data-dir', dir, ...more, backup]);

  beforeAll(() => {
    const newest = readdirSync(backupDir)
      .filter((name) => name.endsWith('.rdb'))
      .sort()
      .at(-1)!;
    good = join(backupDir, newest);
  });

  function brokenCopy(name: string, damage: (file: string) => void, withChecksum: boolean): string {
    const dir = join(scratch.dir, `broken-${name}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'tasktier-20260101T000000Z.rdb');
    copyFileSync(good, file);
    if (withChecksum) copyFileSync(`${good}.sha256`, `${file}.sha256`);
    damage(file);
    return file;
  }
  const truncate = (file: string) => truncateSync(file, Math.floor(statSync(file).size / 2));
  const flipByte = (file: string) => {
    const bytes = readFileSync(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(file, bytes);
  };

  it.each([
    [
      'a truncated backup (checksum file present)',
      () => brokenCopy('t1', truncate, true),
      /does not match its checksum/,
    ],
    ['a truncated backup (no checksum file)', () => brokenCopy('t2', truncate, false), /truncated or corrupt/],
    [
      'a corrupt backup (one byte changed, no checksum file)',
      () => brokenCopy('c1', flipByte, false),
      /truncated or corrupt/,
    ],
    ['a missing backup', () => join(scratch.dir, 'nothing.rdb'), /does not exist/],
    [
      'an empty backup directory',
      () => {
        const dir = join(scratch.dir, 'empty-backups');
        mkdirSync(dir, { recursive: true });
        return dir;
      },
      /no backup/,
    ],
  ] as Array<[string, () => string, RegExp]>)('refuses %s and leaves the data as it was', async (_, make, pattern) => {
    await redis.stop();
    const before = fingerprint(dataDir);
    const result = await restoreInto(dataDir, make(), '--force');
    expectOneLineError(result, pattern);
    expect(fingerprint(dataDir)).toEqual(before);
  });

  it('refuses to overwrite non-empty data without --force, replaces it with --force keeping the old files', async () => {
    await redis.stop();
    const before = fingerprint(dataDir);
    const refused = await restoreInto(dataDir, good);
    expectOneLineError(
      refused,
      /already holds \d+ keys that do not expire: refusing to overwrite live data; re-run with --force/,
    );
    expect(fingerprint(dataDir)).toEqual(before);

    const forced = await restoreInto(dataDir, good, '--force');
    expect(forced.code, forced.stderr).toBe(0);
    const aside = readdirSync(dataDir).filter((name) => name.startsWith('pre-restore-'));
    expect(aside).toHaveLength(1);
    expect(existsSync(join(dataDir, aside[0]!, 'appendonlydir'))).toBe(true);
  });

  it('restores without --force over keys that all expire (a stack that served a moment: rate-limit counters)', async () => {
    const served = join(scratch.dir, 'served');
    mkdirSync(served);
    const briefly = await startRedis({ dir: served, args: ['--appendonly', 'yes'] });
    briefly.cli('SET', 'tt:rl:reads:203.0.113.5', '3', 'EX', '600');
    briefly.cli('ZADD', 'tt:streams:203.0.113.5', '1', 'lease');
    briefly.cli('EXPIRE', 'tt:streams:203.0.113.5', '600');
    await briefly.stop();
    const result = await restoreInto(served, good);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/the data directory holds 2 keys now .*, 2 of them expiring/);
    expect(readdirSync(served).some((name) => name.startsWith('pre-restore-'))).toBe(true);
  });

  it('refuses while a redis-server runs on the data directory', async () => {
    await redis.restart();
    const before = fingerprint(dataDir);
    const result = await restoreInto(dataDir, good, '--force');
    expectOneLineError(result, /redis-server \(pid \d+\) is running on/);
    expect(fingerprint(dataDir)).toEqual(before);
  });

  it('restores into an empty directory without --force, and Redis loads it', async () => {
    const fresh = join(scratch.dir, 'fresh');
    const result = await restoreInto(fresh, backupDir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/newest backup in the directory/);
    expect(result.stdout).toMatch(/the data directory holds no data/);
    expect(readdirSync(fresh).sort()).toEqual(['appendonlydir', 'dump.rdb']);
  });
});
