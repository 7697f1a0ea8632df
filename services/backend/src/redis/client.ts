import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { type Config, clusterSeeds } from '../config.ts';

/** One Redis or a Redis Cluster: every command the store, the limits and the leases send exists on both. */
export type RedisClient = Redis | Cluster;

/**
 * Where change events are heard: SUBSCRIBE on one Redis; SSUBSCRIBE (sharded pub/sub) on a
 * cluster, so an event travels only within the shard of its list instead of to every node.
 */
export interface ChangeFeed {
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  onMessage(listener: (channel: string, message: string) => void): void;
  /** Called each time the feed was cut off and came back: messages meanwhile are lost. */
  onInterrupted(handler: () => void): void;
}

export interface RedisConnections {
  mode: 'standalone' | 'cluster';
  /** Commands: fail fast (no offline queue, a command timeout). */
  commands: RedisClient;
  /** Its own connection(s): queues while reconnecting and resubscribes. */
  subscriber: RedisClient;
  feed: ChangeFeed;
  /** What the write scripts publish with: PUBLISH, or SPUBLISH to the shard of the list's slot. */
  publishCommand: 'PUBLISH' | 'SPUBLISH';
  /** True when Redis serves requests: a PING answered, and on a cluster every slot served (cluster_state:ok). */
  answers(): Promise<boolean>;
}

/**
 * Fail fast when Redis is away: no offline queue, one retry, a timeout that runs until the
 * reply arrives. A request then fails in about a second with 503 instead of piling up.
 */
function nodeOptions(config: Config) {
  return {
    username: config.REDIS_USERNAME || undefined,
    password: config.REDIS_PASSWORD || undefined,
    maxRetriesPerRequest: 1,
    commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2000,
  } satisfies RedisOptions;
}

const backoff = (attempt: number) => Math.min(50 * 2 ** attempt, 1000);

/**
 * The backend's Redis connections, the one place they are made: REDIS_CLUSTER_NODES set, an
 * ioredis Cluster (MOVED/ASK redirections, failovers and resharding followed by the client);
 * otherwise one Redis at REDIS_URL.
 */
export function connectRedis(config: Config): RedisConnections {
  if (config.REDIS_CLUSTER_NODES) return connectCluster(config, config.REDIS_CLUSTER_NODES);
  const options = {
    ...nodeOptions(config),
    enableOfflineQueue: false,
    lazyConnect: false,
    retryStrategy: backoff,
    // Commands issued in the same event-loop turn (concurrent requests) go out in one write and
    // Redis reads them in one go: writing each command on its own was a quarter of the backend's
    // CPU under load (docs/performance.md). Each command still has its own reply and timeout.
    enableAutoPipelining: true,
  } satisfies RedisOptions;
  const commands = new Redis(config.REDIS_URL, options);
  const subscriber = new Redis(config.REDIS_URL, {
    ...options,
    enableAutoPipelining: false,
    enableOfflineQueue: true,
    commandTimeout: undefined,
  });
  let connectedOnce = false;
  const interrupted = new Set<() => void>();
  subscriber.on('ready', () => {
    if (connectedOnce) for (const handler of interrupted) handler();
    connectedOnce = true;
  });
  return {
    mode: 'standalone',
    commands,
    subscriber,
    publishCommand: 'PUBLISH',
    feed: {
      subscribe: (channel) => subscriber.subscribe(channel),
      unsubscribe: (channel) => subscriber.unsubscribe(channel),
      onMessage: (listener) => subscriber.on('message', listener),
      onInterrupted: (handler) => interrupted.add(handler),
    },
    answers: async () => commands.status === 'ready' && (await commands.ping()) === 'PONG',
  };
}

function connectCluster(config: Config, seeds: string): RedisConnections {
  const options = {
    redisOptions: nodeOptions(config),
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    // Reads from primaries: a replica may lag, and a client reading its own write must see it.
    scaleReads: 'master',
    clusterRetryStrategy: backoff,
    // A node that went away, a cluster without a primary for some slots, a slot half-migrated: ask
    // again shortly, up to about a second in all (like one command timeout), then 503. A failover
    // takes longer (the node timeout plus an election): requests fail fast meanwhile, not pile up.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    // While a slot changes hands the two nodes may send a request back and forth (MOVED) for a
    // moment: asked again at once, it would run out of redirections within milliseconds.
    retryDelayOnMoved: 50,
    maxRedirections: 10,
    slotsRefreshTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    // Topology is also refreshed on every MOVED; this catches a failover before any request meets it.
    slotsRefreshInterval: 2000,
  } satisfies ClusterOptions;
  const commands = new Cluster(clusterSeeds(seeds), options);
  const subscriber = new Cluster(clusterSeeds(seeds), {
    ...options,
    redisOptions: { ...nodeOptions(config), commandTimeout: undefined },
    enableAutoPipelining: false,
    enableOfflineQueue: true,
    // One subscriber connection per primary; each SSUBSCRIBE goes to the shard of its channel's slot.
    shardedSubscribers: true,
  });
  // The sharded subscriber group drops a node's subscriber when that node fails or loses its
  // slots (a failover, a reshard) and resubscribes on the new owner: events published meanwhile
  // are lost, so streams are told to resync.
  const interrupted = new Set<() => void>();
  subscriber.on('-subscriber', () => {
    for (const handler of interrupted) handler();
  });
  return {
    mode: 'cluster',
    commands,
    subscriber,
    publishCommand: 'SPUBLISH',
    feed: {
      subscribe: (channel) => subscriber.ssubscribe(channel),
      unsubscribe: (channel) => subscriber.sunsubscribe(channel),
      onMessage: (listener) => subscriber.on('smessage', listener),
      onInterrupted: (handler) => interrupted.add(handler),
    },
    answers: async () =>
      commands.status === 'ready' && /^cluster_state:ok\r?$/m.test(String(await commands.cluster('INFO'))),
  };
}
