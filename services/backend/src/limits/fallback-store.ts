// The library's own stores; it exports neither, so they are reached by path (types: stores.d.ts).
import LocalStore from '@fastify/rate-limit/store/LocalStore.js';
import RedisStore from '@fastify/rate-limit/store/RedisStore.js';
import type { RedisClient } from '../redis/client.ts';

/** Counts kept by the process itself: an LRU map, so rotating addresses cannot grow it. */
const LOCAL_ADDRESSES = 20_000;

type Done = (error: Error | null, result?: { current: number; ttl: number }) => void;

/**
 * The per-client counters in Redis, shared by every replica, and in this process when Redis
 * refuses them. Letting requests through instead would lift every limit exactly when Redis is
 * full (`maxmemory` refuses the counters' INCR as it refuses writes) or down, which is when
 * someone is pushing hardest. The fallback counts per replica, so a client gets at most the
 * limit times the replicas until Redis takes the counters again.
 */
export function fallbackStore(redis: RedisClient, nameSpace: string, onFallback: (error: Error) => void) {
  return class RedisWithLocalFallback {
    private readonly shared = new RedisStore(false, false, redis, nameSpace);
    private readonly local = new LocalStore(false, false, LOCAL_ADDRESSES);

    incr(key: string, done: Done, timeWindow: number, max: number): void {
      this.shared.incr(
        key,
        (error, result) => {
          if (!error) return done(null, result);
          onFallback(error);
          this.local.incr(key, done, timeWindow, max);
        },
        timeWindow,
        max,
      );
    }

    child(): this {
      return this;
    }
  };
}
