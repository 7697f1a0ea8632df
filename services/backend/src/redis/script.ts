import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { RedisClient } from './client.ts';
import { StorageUnavailableError } from './errors.ts';

/** Replicas that must hold a write before it is answered, and how long to wait for them. */
export interface ReplicaWait {
  replicas: number;
  timeoutMs: number;
}

const isNoScript = (error: unknown) => error instanceof Error && error.message.startsWith('NOSCRIPT');

/** A Lua script run by EVALSHA, loaded with EVAL the first time a server does not know it. */
export class Script {
  readonly sha: string;

  constructor(
    readonly name: string,
    private readonly source: string,
    private readonly keyCount: number,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: RedisClient, keys: string[], args: Array<string | number>): Promise<unknown> {
    if (keys.length !== this.keyCount) throw new Error(`${this.name} takes ${this.keyCount} keys`);
    return followRedirections(redis, async () => {
      try {
        return await redis.evalsha(this.sha, this.keyCount, ...keys, ...args);
      } catch (error) {
        if (isNoScript(error)) return redis.eval(this.source, this.keyCount, ...keys, ...args);
        throw error;
      }
    });
  }

  /**
   * Runs the script, then WAIT on the same connection (one pipeline, so to the primary that ran
   * it): answers only once `wait.replicas` replicas have the write. Fewer within the timeout and
   * the write is not confirmed: StorageUnavailableError (503), since a failover now could lose it.
   */
  async runAndWait(
    redis: RedisClient,
    keys: string[],
    args: Array<string | number>,
    wait: ReplicaWait,
  ): Promise<unknown> {
    if (keys.length !== this.keyCount) throw new Error(`${this.name} takes ${this.keyCount} keys`);
    const attempt = async (how: 'evalsha' | 'eval') => {
      const pipeline = redis.pipeline();
      if (how === 'evalsha') pipeline.evalsha(this.sha, this.keyCount, ...keys, ...args);
      else pipeline.eval(this.source, this.keyCount, ...keys, ...args);
      const replies = (await pipeline.wait(wait.replicas, wait.timeoutMs).exec()) ?? [];
      const [[scriptError, result] = [new Error('no reply')], [waitError, acked] = [new Error('no reply')]] = replies;
      if (scriptError) throw scriptError;
      if (waitError) throw waitError;
      if (Number(acked) < wait.replicas) {
        throw new StorageUnavailableError(`write not confirmed by ${wait.replicas} replica(s) in time`);
      }
      return result;
    };
    return followRedirections(redis, async () => {
      try {
        return await attempt('evalsha');
      } catch (error) {
        if (isNoScript(error)) return attempt('eval');
        throw error;
      }
    });
  }
}

/**
 * Runs `attempt` again when a cluster answers that the slot is elsewhere or in motion. The client
 * follows MOVED and ASK for a command on its own, but not inside a pipeline that holds a write:
 * the explicit one of runAndWait, and the ones auto-pipelining makes of concurrent commands to one
 * node. A MOVED, ASK, TRYAGAIN or CLUSTERDOWN reply means the script did not run, so it is sent
 * again: after a slot refresh for MOVED, a few times within about half a second (a failover or a
 * slot migration under way), then the error goes up (503).
 */
async function followRedirections<T>(redis: RedisClient, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      const redirect =
        error instanceof Error ? /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b/.exec(error.message)?.[1] : undefined;
      if (!redirect || tries >= 5) throw error;
      if (redirect === 'MOVED' && 'refreshSlotsCache' in redis) redis.refreshSlotsCache();
      await delay(redirect === 'ASK' || redirect === 'MOVED' ? 20 : 100);
    }
  }
}
