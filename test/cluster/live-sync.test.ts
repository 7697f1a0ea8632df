/**
 * Live sync in cluster mode: change events go over sharded pub/sub. The backend SSUBSCRIBEs on the
 * primary of the list's slot, the write scripts SPUBLISH there (the channel carries the list's
 * {hash tag}), and no event is broadcast to the other nodes (a plain PUBLISH would reach every node
 * of the cluster).
 */
import { spawn } from 'node:child_process';
import { waitFor } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseClient } from '../rollout/lib/sse.ts';
import { type Api, startClusterStack } from './lib/cluster-stack.ts';

let stack: Awaited<ReturnType<typeof startClusterStack>>;
let api: Api;
beforeAll(async () => {
  stack = await startClusterStack();
  api = stack.api;
});
afterAll(async () => {
  await stack?.stop();
});

describe('live sync over sharded pub/sub', () => {
  it('delivers each change to the stream, subscribed on the shard of the list only', async () => {
    const { cluster, backend } = stack;
    const listId = await api.createList();
    const channel = `tt:events:{${listId}}`;
    const owner = cluster.primaryOf(`tt:list:{${listId}}`);
    const follower = new SseClient(backend.url, listId);
    follower.start();
    // A plain subscriber on another node: a broadcast (PUBLISH) would reach it, SPUBLISH does not.
    const other = cluster.topology().find((node) => node.role === 'primary' && node.id !== owner.id);
    if (!other) throw new Error('a second primary expected');
    const eavesdropper = spawn('redis-cli', ['-p', String(other.port), 'SUBSCRIBE', channel]);
    let heard = '';
    eavesdropper.stdout.on('data', (chunk: Buffer) => {
      heard += chunk.toString();
    });
    try {
      await waitFor("the stream to subscribe on the list's shard", () =>
        cluster.cli(owner.port, 'PUBSUB', 'SHARDNUMSUB', channel).endsWith('\n1'),
      );
      await waitFor('the eavesdropper to subscribe', () => heard.includes('subscribe'));
      for (let i = 0; i < 5; i++) await api.createTodo(listId, { title: `change ${i}` });
      await waitFor('the five change events', () => follower.known >= 5);
      expect(follower.changeEvents).toBeGreaterThanOrEqual(5);
      expect(follower.gaps).toBe(0);
      // Only on the owner's shard: every other primary has no subscriber for it.
      for (const node of cluster.topology().filter((info) => info.role === 'primary' && info.id !== owner.id)) {
        expect(cluster.cli(node.port, 'PUBSUB', 'SHARDNUMSUB', channel)).toMatch(/\n0$/);
      }
      expect(heard).not.toContain('todo.created');
    } finally {
      eavesdropper.kill();
      await follower.stop();
    }
  });
});
