import type { Todo } from '@tasktier/contract';
import { type RedisCluster, type RedisClusterOptions, startRedisCluster } from '@tasktier/testkit';
import { Api } from '../../durability/lib/api.ts';
import { acknowledged, type WriteOp } from '../../durability/lib/load.ts';
import { type Backend, startBackend } from '../../durability/lib/stack.ts';

export { Api };

/** A six-node cluster and the real backend (dist/server.js) in cluster mode in front of it. */
export async function startClusterStack(
  env: Record<string, string> = {},
  clusterOptions: RedisClusterOptions = {},
): Promise<{
  cluster: RedisCluster;
  backend: Backend;
  api: Api;
  stop(): Promise<void>;
}> {
  const cluster = await startRedisCluster(clusterOptions);
  try {
    // REDIS_URL is ignored once REDIS_CLUSTER_NODES is set; an address nothing listens on proves it.
    const backend = await startBackend('redis://127.0.0.1:1', { REDIS_CLUSTER_NODES: cluster.seeds, ...env });
    return {
      cluster,
      backend,
      api: new Api(backend.url),
      stop: async () => {
        await backend.stop();
        await cluster.stop();
      },
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** The cluster node (a running redis-server) at `port`. */
export function nodeAt(cluster: RedisCluster, port: number) {
  const node = cluster.nodes.find((candidate) => candidate.port === port);
  if (!node) throw new Error(`no cluster node on port ${port}`);
  return node;
}

/**
 * Acknowledged writes that are not in the lists now, read back through the API: a created todo
 * missing, or a todo whose acknowledged update (the last one acknowledged for it) is not there.
 */
export async function lostWrites(api: Api, ops: WriteOp[]): Promise<WriteOp[]> {
  const lists = new Map<string, Map<string, Todo>>();
  for (const listId of new Set(ops.map((op) => op.listId))) {
    const result = await api.request<Todo[]>('GET', `/api/lists/${listId}/todos`);
    if (result.status !== 200) throw new Error(`GET todos of a list answered ${result.status}`);
    lists.set(listId, new Map(result.body.map((todo) => [todo.id, todo])));
  }
  return ops.filter((op) => {
    if (!acknowledged(op) || !op.todoId) return false;
    const todo = lists.get(op.listId)?.get(op.todoId);
    if (!todo) return true;
    return op.kind === 'update' && !todo.completed;
  });
}

/** What a run of failures looked like: how many, of which kinds, and from first to last (ms). */
export function failureSummary(ops: WriteOp[], since: number) {
  const failed = ops.filter((op) => !acknowledged(op));
  const statuses: Record<string, number> = {};
  for (const op of failed) statuses[op.status] = (statuses[op.status] ?? 0) + 1;
  const first = Math.min(...failed.map((op) => op.sentAt));
  const last = Math.max(...failed.map((op) => op.doneAt));
  return {
    failed: failed.length,
    statuses,
    /** From the kill until the last failed request was answered. */
    windowMs: failed.length === 0 ? 0 : Math.round(last - since),
    firstFailureAfterKillMs: failed.length === 0 ? 0 : Math.round(first - since),
  };
}
