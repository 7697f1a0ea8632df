import type { RedisClient } from '../redis/client.ts';
import { Script } from '../redis/script.ts';

// Leases carry Redis's own clock (TIME), so that replicas with skewed clocks agree on expiry.
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: the address's set. ARGV: lease id, cap, lease ms. 1 admitted, 0 refused. */
const ADMIT = new Script(
  'admitStream',
  `${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
  1,
);

/** KEYS: the address's set. ARGV: lease ms, then the lease ids still open on this replica. */
const RENEW = new Script(
  'renewStreams',
  `${NOW_MS}
local expiry = now + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0`,
  1,
);

/**
 * Open event streams per client address, counted across replicas: a sorted set per address in
 * Redis, one member (a lease) per open stream, scored by when it expires. A replica renews the
 * leases of its open streams on every heartbeat, so the streams of a replica that died stop
 * counting once their leases run out, without anyone cleaning up after it.
 */
export class StreamLeases {
  /** Lease ids open on this replica, by address: what each heartbeat renews. */
  private readonly open = new Map<string, Set<string>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
    readonly perClient: number,
    readonly leaseMs: number,
  ) {}

  private key(address: string): string {
    return `${this.keyPrefix}streams:${address}`;
  }

  /**
   * Takes a lease for one more stream of `address`; false when the address holds its cap. When
   * Redis refuses the lease (full, or away), this replica's own streams of the address are counted
   * instead: the cap holds per replica meanwhile, it never lifts itself.
   */
  async admit(address: string, id: string): Promise<boolean> {
    let admitted: boolean;
    try {
      admitted = (await ADMIT.run(this.redis, [this.key(address)], [id, this.perClient, this.leaseMs])) === 1;
    } catch {
      admitted = (this.open.get(address)?.size ?? 0) < this.perClient;
    }
    if (admitted) {
      const ids = this.open.get(address) ?? new Set<string>();
      ids.add(id);
      this.open.set(address, ids);
    }
    return admitted;
  }

  release(address: string, id: string): void {
    const ids = this.open.get(address);
    if (!ids?.delete(id)) return;
    if (ids.size === 0) this.open.delete(address);
    // A release that fails leaves a lease that expires by itself.
    this.redis.zrem(this.key(address), id).catch(() => {});
  }

  /** Renews every lease held by this replica (one command per address). */
  async renew(): Promise<void> {
    await Promise.allSettled(
      [...this.open].map(([address, ids]) => RENEW.run(this.redis, [this.key(address)], [this.leaseMs, ...ids])),
    );
  }
}
