import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { EventHub } from '../live/event-hub.ts';
import { TodoStore } from '../todos/store.ts';
import { watchConnection } from './watchdog.ts';

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis;
    store: TodoStore;
    events: EventHub;
    /** True when Redis answers a PING within the command timeout. */
    redisAnswers(): Promise<boolean>;
  }
}

/**
 * Fail fast when Redis is away: no offline queue, one retry, a timeout that runs until the
 * reply arrives. A request then fails in about a second with 503 instead of piling up.
 */
function redisOptions(config: Config) {
  return {
    username: config.REDIS_USERNAME || undefined,
    password: config.REDIS_PASSWORD || undefined,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2000,
    lazyConnect: false,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 1000),
    // Commands issued in the same event-loop turn (concurrent requests) go out in one write and
    // Redis reads them in one go: writing each command on its own was a quarter of the backend's
    // CPU under load (docs/performance.md). Each command still has its own reply and timeout.
    enableAutoPipelining: true,
  };
}

export default fp(
  async (app, { config }: { config: Config }) => {
    const redis = new Redis(config.REDIS_URL, redisOptions(config));
    // Pub/sub needs its own connection; it queues SUBSCRIBEs while reconnecting and resubscribes.
    const subscriber = new Redis(config.REDIS_URL, {
      ...redisOptions(config),
      enableAutoPipelining: false,
      enableOfflineQueue: true,
      commandTimeout: undefined,
    });

    let lastErrorLog = 0;
    const logError = (which: string) => (error: Error) => {
      // A Redis outage emits an error per reconnect attempt; one log line a few seconds is enough.
      if (Date.now() - lastErrorLog < 5000) return;
      lastErrorLog = Date.now();
      app.log.warn({ redis: which, err: { message: error.message } }, 'redis connection error');
    };
    redis.on('error', logError('commands'));
    subscriber.on('error', logError('subscriber'));
    redis.on('ready', () => app.log.info('redis ready'));

    const watch = (client: Redis, connection: string, missesToReplace: number) =>
      watchConnection(client, {
        intervalMs: Math.max(1000, config.REDIS_COMMAND_TIMEOUT_MS),
        timeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
        // ioredis asks a loading Redis again after at most maxLoadingRetryTime (10 s by default).
        handshakeTimeoutMs: (redis.options.maxLoadingRetryTime ?? 10_000) + 2 * config.REDIS_COMMAND_TIMEOUT_MS,
        missesToReplace,
        onReplace: (reason) => {
          app.log.warn({ redis: connection, reason }, 'redis connection stopped answering; replacing it');
          app.metrics.redisConnectionsReplaced.inc({ connection });
        },
      });
    // The subscriber gets one more miss: replacing it ends every open stream of this replica.
    const stopWatching = [watch(redis, 'commands', 2), watch(subscriber, 'subscriber', 3)];

    app.decorate('redis', redis);
    app.decorate(
      'store',
      new TodoStore(
        redis,
        config.REDIS_KEY_PREFIX,
        {
          maxTodos: config.MAX_TODOS_PER_LIST,
          maxListBytes: config.MAX_LIST_BYTES,
          emptyListTtlSeconds: config.EMPTY_LIST_TTL_SECONDS,
        },
        (operation, seconds, failed) => app.metrics.observeRedis(operation, seconds, failed),
      ),
    );
    app.decorate('events', new EventHub(subscriber, app.log));
    app.decorate('redisAnswers', async () => {
      if (redis.status !== 'ready') return false;
      try {
        return (await redis.ping()) === 'PONG';
      } catch {
        return false;
      }
    });

    app.addHook('onClose', async () => {
      for (const stop of stopWatching) stop();
      await Promise.allSettled([redis.quit(), subscriber.quit()]);
    });
  },
  { name: 'redis', decorators: { fastify: ['metrics'] } },
);
