/**
 * A live reshard (`redis-cli --cluster reshard`) of a real six-node cluster while the backend
 * writes: keys migrate slot by slot (ASK redirections, TRYAGAIN while a list's two keys are split)
 * and not one request fails; live sync keeps following the lists whose slots moved.
 */
import { waitFor } from '@tasktier/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { acknowledged, WriteLoad } from '../durability/lib/load.ts';
import { SseClient } from '../rollout/lib/sse.ts';
import { lostWrites, startClusterStack } from './lib/cluster-stack.ts';

let stopStack: (() => Promise<void>) | undefined;
afterAll(async () => {
  await stopStack?.();
});

const SLOTS = 1200;

describe('a live reshard under write load', () => {
  it('moves slots holding lists with no failed request, no lost write and live sync intact', async () => {
    const { cluster, backend, api, stop } = await startClusterStack();
    stopStack = stop;
    const [source, target] = cluster.topology().filter((node) => node.role === 'primary');
    if (!source || !target) throw new Error('two primaries expected');
    // redis-cli takes a source's lowest slots first: find lists in them, so that their keys move.
    const firstSlot = Number(
      cluster
        .cli(source.port, 'cluster', 'nodes')
        .split('\n')
        .find((line) => line.startsWith(source.id))
        ?.split(' ')[8]
        ?.split('-')[0],
    );
    const moving: string[] = [];
    const staying: string[] = [];
    while (moving.length < 4) {
      const id = await api.createList();
      const slot = Number(cluster.cli(source.port, 'cluster', 'keyslot', `tt:list:{${id}}`));
      if (slot >= firstSlot && slot < firstSlot + SLOTS) moving.push(id);
      else if (staying.length < 4) staying.push(id);
    }
    const followers = moving.map((id) => new SseClient(backend.url, id));
    for (const follower of followers) follower.start();
    const load = new WriteLoad(api, [...moving, ...staying]);
    try {
      await waitFor('writes before the reshard', () => load.count(acknowledged) >= 100, { timeoutMs: 30_000 });
      const started = performance.now();
      await cluster.reshard(source.id, target.id, SLOTS);
      const reshardMs = Math.round(performance.now() - started);
      const before = load.count(acknowledged);
      await waitFor('writes after the reshard', () => load.count(acknowledged) >= before + 100, { timeoutMs: 30_000 });
      await load.stop();

      for (const id of moving) expect(cluster.primaryOf(`tt:list:{${id}}`).id).toBe(target.id);
      const failed = load.ops.filter((op) => !acknowledged(op));
      process.stdout.write(
        `cluster reshard: ${SLOTS} slots (with ${moving.length} busy lists) moved in ${reshardMs} ms under load, ` +
          `${load.ops.length} writes, ${failed.length} failed\n`,
      );
      expect(failed).toEqual([]);
      expect(await lostWrites(api, load.ops)).toEqual([]);
      for (const follower of followers) {
        const response = await fetch(`${backend.url}/api/lists/${follower.listId}/todos`);
        await response.arrayBuffer();
        const version = Number.parseInt(response.headers.get('etag')?.replaceAll('"', '') ?? '', 10);
        await waitFor(`live sync to reach version ${version}`, () => follower.known >= version, { timeoutMs: 20_000 });
      }
    } finally {
      await load.stop();
      await Promise.all(followers.map((follower) => follower.stop()));
    }
  });
});
