/**
 * The cluster with ACL users, as the redis-cluster component runs it: every node loads the ACL file
 * of deploy/redis/generate-acl (default user off), replicas log in to their primary as `backup`
 * (masteruser/masterauth). The backend logs in as `backend` and serves lists, todos and live events;
 * `redis-backup --cluster` backs up every shard as `backup`, `redis-restore --cluster` restores them
 * as `admin`.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run, waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AclSetup, cliAs, generateAcl, paths, tempDir } from '../durability/lib/stack.ts';
import { SseClient } from '../rollout/lib/sse.ts';
import { startClusterStack } from './lib/cluster-stack.ts';

const scratch = tempDir('cluster-acl');
let acl: AclSetup;
let stack: Awaited<ReturnType<typeof startClusterStack>>;

beforeAll(async () => {
  acl = generateAcl(scratch.dir);
  stack = await startClusterStack(
    { REDIS_USERNAME: 'backend', REDIS_PASSWORD: acl.passwords.backend },
    { acl, args: ['--repl-diskless-sync-delay', '0'] },
  );
});
afterAll(async () => {
  await stack?.stop();
  scratch.remove();
});

describe('Redis Cluster with ACL users', () => {
  it('replicates as the backup user and refuses anyone who does not log in', () => {
    const { cluster } = stack;
    for (const node of cluster.nodes) {
      const info = cluster.cli(node.port, 'INFO', 'replication');
      expect(info.includes('role:master') || info.includes('master_link_status:up'), info).toBe(true);
      expect(cliAs(node.port, undefined, undefined, 'GET', 'tt:anything')).toMatch(/NOAUTH/);
    }
  });

  it('serves the backend logged in as `backend`: a list, a todo, its live event', async () => {
    const { api, backend } = stack;
    const listId = await api.createList();
    const follower = new SseClient(backend.url, listId);
    follower.start();
    try {
      const todo = await api.createTodo(listId, { title: 'behind an ACL' });
      expect(todo.title).toBe('behind an ACL');
      await waitFor('the change event', () => follower.known >= 1);
      expect(follower.gaps).toBe(0);
      const todos = await api.request<Array<{ title: string }>>('GET', `/api/lists/${listId}/todos`);
      expect(todos.status).toBe(200);
      expect(todos.body.map((item) => item.title)).toEqual(['behind an ACL']);
    } finally {
      await follower.stop();
    }
  });

  it('backs up every shard as `backup` (redis-backup --cluster) and restores them as `admin` (redis-restore --cluster)', async () => {
    const dir = join(scratch.dir, 'backups');
    const backup = await run(
      paths.backup,
      ['--cluster', '--port', String(stack.cluster.nodes[0]?.port), '--dir', dir],
      {
        env: { REDIS_PASSWORD: acl.passwords.backup },
        timeoutMs: 60_000,
      },
    );
    expect(backup.code, backup.output).toBe(0);
    expect(backup.stdout).toContain("as user 'backup'");
    expect(backup.stdout).toMatch(/cluster: 3 shards backed up/);
    expect(readdirSync(dir).filter((file) => file.endsWith('.rdb'))).toHaveLength(3);

    const restore = await run(
      paths.restore,
      ['--cluster', '--port', String(stack.cluster.nodes[0]?.port), '--force', dir],
      {
        env: { REDIS_PASSWORD: acl.passwords.admin },
        timeoutMs: 60_000,
      },
    );
    expect(restore.code, restore.output).toBe(0);
    expect(restore.stdout).toContain("as user 'admin'");
    expect(restore.stdout).toMatch(/restored \d+ keys from 3 shard backups/);
  });
});
