/**
 * Access: Redis ACL users from deploy/redis/generate-acl (the file `npm start`, compose and
 * Kubernetes use). The default user is off; the backend's user runs only the API's commands on its
 * own key prefix; the backup user can only take snapshots; the probe user can only PING.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from './lib/api.ts';
import {
  type AclSetup,
  cliAs,
  generateAcl,
  paths,
  type RedisServer,
  runScript,
  startBackend,
  startDurableRedis,
  tempDir,
} from './lib/stack.ts';

const scratch = tempDir('acl');
let acl: AclSetup;
let redis: RedisServer;

// Refused by the ACL (a plain command, or one inside a script), not by anything else.
const NOPERM = /NOPERM|no permissions|can't access|can't run/i;

beforeAll(async () => {
  acl = generateAcl(scratch.dir);
  // DEBUG is enabled so that only the ACL stands between the users and it.
  redis = await startDurableRedis('everysec', { args: ['--aclfile', acl.file, '--enable-debug-command', 'yes'] });
});
afterAll(async () => {
  await redis?.destroy();
  scratch.remove();
});

const withoutUrls = (todos: Array<{ url: string }>) => todos.map(({ url: _url, ...fields }) => fields);

const backendCli = (...args: string[]) => cliAs(redis.port, 'backend', acl.passwords.backend, ...args);
const backupCli = (...args: string[]) => cliAs(redis.port, 'backup', acl.passwords.backup, ...args);
const adminCli = (...args: string[]) => cliAs(redis.port, 'admin', acl.passwords.admin, ...args);

describe('the generated ACL file', () => {
  it('holds no password in clear and every user the system needs', () => {
    const text = readFileSync(acl.file, 'utf8');
    for (const password of Object.values(acl.passwords)) expect(text).not.toContain(password);
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(' ')[1]),
    ).toEqual(['default', 'backend', 'backup', 'probe', 'monitor', 'admin']);
  });

  it('is generated from environment variables too (compose), with the given prefix and no admin user', async () => {
    const backend = 'b'.repeat(20);
    const backup = 'c'.repeat(20);
    const result = await runScript(paths.generateAcl, ['--prefix', 'app1:'], {
      REDIS_BACKEND_PASSWORD: backend,
      REDIS_BACKUP_PASSWORD: backup,
      REDIS_ADMIN_PASSWORD: '',
    });
    expect(result.code, result.stderr).toBe(0);
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    expect(result.stdout).toContain(`user backend on #${sha(backend)} resetkeys ~app1:* resetchannels &app1:events:*`);
    expect(result.stdout).toContain(`user backup on #${sha(backup)} `);
    expect(result.stdout).not.toContain('user admin');
    expect(result.stdout).not.toContain(backend);
  });

  it('writes the monitor user (redis_exporter) only when its password is given', async () => {
    const env = {
      REDIS_BACKEND_PASSWORD: 'b'.repeat(20),
      REDIS_BACKUP_PASSWORD: 'c'.repeat(20),
      REDIS_ADMIN_PASSWORD: '',
    };
    const monitor = 'm'.repeat(20);
    const without = await runScript(paths.generateAcl, [], { ...env, REDIS_MONITOR_PASSWORD: '' });
    expect(without.code, without.stderr).toBe(0);
    expect(without.stdout).not.toContain('user monitor');
    const withMonitor = await runScript(paths.generateAcl, [], { ...env, REDIS_MONITOR_PASSWORD: monitor });
    expect(withMonitor.code, withMonitor.stderr).toBe(0);
    const sha = createHash('sha256').update(monitor).digest('hex');
    expect(withMonitor.stdout).toContain(`user monitor on #${sha} resetkeys resetchannels -@all +ping +info `);
    expect(withMonitor.stdout).not.toContain(monitor);
  });

  it('is refused by generate-acl without passwords, with one clear line', async () => {
    const result = await runScript(paths.generateAcl, [], { REDIS_BACKEND_PASSWORD: '', REDIS_BACKUP_PASSWORD: '' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/REDIS_BACKEND_PASSWORD/);
  });
});

describe("redis_exporter's user (monitor)", () => {
  const monitorCli = (...args: string[]) => cliAs(redis.port, 'monitor', acl.passwords.monitor, ...args);
  it('reads the server statistics and the limits the alerts compare with', () => {
    expect(monitorCli('INFO', 'memory')).toContain('used_memory:');
    expect(monitorCli('CONFIG', 'GET', 'maxmemory')).toContain('maxmemory');
  });
  it.each(['GET tt:x', 'KEYS *', 'SCAN 0', 'CONFIG SET maxmemory 1', 'SUBSCRIBE tt:events:x', 'FLUSHALL'])(
    'is refused %s',
    (command) => {
      expect(monitorCli(...command.split(' '))).toMatch(/NOPERM/);
    },
  );
});

describe('the default user', () => {
  it('is off: without logging in nothing runs, and it cannot log in', () => {
    expect(cliAs(redis.port, undefined, undefined, 'PING')).toMatch(/NOAUTH/);
    expect(cliAs(redis.port, undefined, undefined, 'GET', 'tt:x')).toMatch(/NOAUTH/);
    expect(cliAs(redis.port, 'default', 'anything', 'PING')).toMatch(/WRONGPASS|AUTH failed/);
  });
});

describe("the backend's user", () => {
  it('runs its scripts on its own prefix', () => {
    expect(backendCli('PING')).toBe('PONG');
    expect(backendCli('EVAL', "return redis.call('HSET', KEYS[1], 'f', 'v')", '1', 'tt:list:{acl}')).toBe('1');
    expect(backendCli('EVAL', "return redis.call('HGET', KEYS[1], 'f')", '1', 'tt:list:{acl}')).toBe('v');
  });

  it.each([
    'FLUSHALL',
    'FLUSHDB',
    'CONFIG GET maxmemory',
    'CONFIG SET appendonly no',
    'KEYS *',
    'SCAN 0',
    'DEBUG SLEEP 0',
    'SHUTDOWN NOSAVE',
    'ACL LIST',
    'MONITOR',
    'SAVE',
    'BGREWRITEAOF',
    'REPLICAOF 127.0.0.1 1',
    'MIGRATE 127.0.0.1 1 tt:list:{acl} 0 1000',
    'CLIENT KILL TYPE normal',
    'SCRIPT FLUSH',
    'FUNCTION FLUSH',
    'MODULE LIST',
    'SYNC',
    'SET tt:list:{acl} x',
    'GET tt:list:{acl}',
  ])('is refused %s', (command) => {
    expect(backendCli(...command.split(' '))).toMatch(NOPERM);
  });

  it('is refused keys and channels outside its prefix, also from inside a script', () => {
    expect(backendCli('HSET', 'other:list:{acl}', 'f', 'v')).toMatch(NOPERM);
    expect(backendCli('HGET', 'other:list:{acl}', 'f')).toMatch(NOPERM);
    expect(backendCli('EVAL', "return redis.call('HSET', KEYS[1], 'f', 'v')", '1', 'other:list:{acl}')).toMatch(NOPERM);
    expect(backendCli('EVAL', "return redis.call('HSET', 'other:list:{acl}', 'f', 'v')", '0')).toMatch(NOPERM);
    expect(backendCli('EVAL', "return redis.call('FLUSHALL')", '0')).toMatch(NOPERM);
    expect(backendCli('EVAL', "return redis.call('KEYS', '*')", '0')).toMatch(NOPERM);
    expect(backendCli('PUBLISH', 'other:events:{acl}', 'x')).toMatch(NOPERM);
    expect(backendCli('PUBLISH', 'tt:events:{acl}', 'x')).toBe('0');
    expect(adminCli('EXISTS', 'other:list:{acl}')).toBe('0');
  });
});

describe('the backup user', () => {
  it('takes a snapshot and can do nothing else', async () => {
    const file = join(scratch.dir, 'snapshot.rdb');
    const result = await runScript('redis-cli', ['-p', String(redis.port), '--user', 'backup', '--rdb', file], {
      REDISCLI_AUTH: acl.passwords.backup,
    });
    expect(result.stdout + result.stderr).toMatch(/Transfer finished with success/);
    expect(existsSync(file)).toBe(true);
    for (const command of [
      ['GET', 'tt:list:{acl}'],
      ['HGETALL', 'tt:list:{acl}'],
      ['KEYS', '*'],
      ['SCAN', '0'],
      ['CONFIG', 'GET', 'dir'],
      ['FLUSHALL'],
      ['BGSAVE'],
      ['SAVE'],
      ['DEBUG', 'RELOAD'],
      ['EVAL', 'return 1', '0'],
      ['HSET', 'tt:list:{acl}', 'f', 'x'],
      ['SUBSCRIBE', 'tt:events:{acl}'],
    ]) {
      expect(backupCli(...command), command.join(' ')).toMatch(NOPERM);
    }
  });
});

describe('the probe user', () => {
  it('answers PING without a real password and nothing else', () => {
    expect(cliAs(redis.port, 'probe', 'probe', 'PING')).toBe('PONG');
    expect(cliAs(redis.port, 'probe', 'probe', 'INFO')).toMatch(NOPERM);
    expect(cliAs(redis.port, 'probe', 'probe', 'GET', 'tt:list:{acl}')).toMatch(NOPERM);
  });
});

describe('the backend through the ACL', () => {
  it('serves the whole API as user backend without a single refused command, limits on', async () => {
    expect(adminCli('ACL', 'LOG', 'RESET')).toBe('OK');
    const backend = await startBackend(redis.url, {
      REDIS_USERNAME: 'backend',
      REDIS_PASSWORD: acl.passwords.backend,
      RATE_LIMITS: 'on',
    });
    try {
      const api = new Api(backend.url);
      const listId = await api.createList();
      const events = await fetch(`${backend.url}/api/lists/${listId}/events`, { signal: AbortSignal.timeout(10_000) });
      const reader = events.body!.getReader();
      let received = '';
      const readUntil = (text: string) =>
        waitFor(`"${text}" on the event stream`, async () => {
          const { value } = await reader.read();
          received += new TextDecoder().decode(value);
          return received.includes(text);
        });
      await readUntil('event: ready');
      const todo = await api.createTodo(listId, { title: 'through the ACL', order: 2 });
      await readUntil('todo.created');
      await reader.cancel();
      await api.patchTodo(listId, todo.id, { completed: true });
      expect((await api.request('GET', `/api/lists/${listId}/todos/${todo.id}`)).status).toBe(200);
      expect((await api.getList(listId)).body.todoCount).toBe(1);
      await api.deleteTodo(listId, todo.id);
      await api.createTodo(listId, { title: 'second' });
      expect((await api.request('DELETE', `/api/lists/${listId}/todos`)).status).toBeLessThan(300);
      expect(await api.getTodos(listId)).toEqual([]);
      expect(await api.status('/readyz')).toBe(200);
      // The limits counted in Redis, their scripts run as this user (a refused one is in the ACL log).
      expect(adminCli('--scan', '--pattern', 'tt:rl:*')).toMatch(/tt:rl:listCreates:127\.0\.0\.1/);
    } finally {
      await backend.stop();
    }
    // ACL LOG records every refused command and key: the backend needed none beyond its rules.
    expect(adminCli('ACL', 'LOG')).toBe('');
  });

  // Redis replays the append-only file's MULTI/EXEC blocks (how Redis 7 logs a script's writes)
  // under the default user's permissions: with `-@all` there, every todo written by a script was
  // dropped on restart, silently (a Redis bug, fixed only in later versions). This is what caught it.
  it('keeps everything written through the ACL across a Redis restart (AOF replay)', async () => {
    const backend = await startBackend(redis.url, { REDIS_USERNAME: 'backend', REDIS_PASSWORD: acl.passwords.backend });
    let listId: string;
    let before: unknown;
    try {
      const api = new Api(backend.url);
      listId = await api.createList();
      const todo = await api.createTodo(listId, { title: 'written by a script', order: 1 });
      await api.createTodo(listId, { title: 'and another' });
      await api.patchTodo(listId, todo.id, { completed: true });
      before = withoutUrls(await api.getTodos(listId));
      expect(before).toHaveLength(2);
    } finally {
      await backend.stop();
    }
    await redis.stop();
    await redis.restart();
    const after = await startBackend(redis.url, { REDIS_USERNAME: 'backend', REDIS_PASSWORD: acl.passwords.backend });
    try {
      // Field by field, except `url`, which names the (new) backend's port.
      expect(withoutUrls(await new Api(after.url).getTodos(listId))).toEqual(before);
    } finally {
      await after.stop();
    }
  });

  it('cannot reach another key prefix: with REDIS_KEY_PREFIX=other: every request is refused (503)', async () => {
    const backend = await startBackend(
      redis.url,
      { REDIS_USERNAME: 'backend', REDIS_PASSWORD: acl.passwords.backend, REDIS_KEY_PREFIX: 'other:' },
      '/healthz',
    );
    try {
      const result = await new Api(backend.url).request('POST', '/api/lists');
      expect(result.status).toBe(503);
      expect(adminCli('ACL', 'LOG')).toMatch(/other:list/);
      expect(adminCli('--scan', '--pattern', 'other:*')).toBe('');
    } finally {
      await backend.stop();
    }
  });

  it('is not ready with a wrong password', async () => {
    const backend = await startBackend(
      redis.url,
      { REDIS_USERNAME: 'backend', REDIS_PASSWORD: 'not-the-password-at-all' },
      '/healthz',
    );
    try {
      const api = new Api(backend.url);
      expect(await api.status('/readyz')).toBe(503);
      expect((await api.request('POST', '/api/lists')).status).toBe(503);
    } finally {
      await backend.stop();
    }
  });
});
