import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { EventHub } from '../live/event-hub.ts';
import { TodoStore } from '../todos/store.ts';
import { connectRedis, type RedisClient } from './client.ts';
import { describeConnectionError } from './connection-error.ts';
import { watchConnection } from './watchdog.ts';

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient;
    store: TodoStore;
    events: EventHub;
    /** True when Redis answers a PING within the command timeout (on a cluster: and cluster_state is ok). */
    redisAnswers(): Promise<boolean>;
  }
}

export default fp(
  async (app, { config }: { config: Config }) => {
    const connections = connectRedis(config);
    const { commands: redis, subscriber } = connections;

    let lastErrorLog = 0;
    const logError = (which: string) => (error: unknown) => {
      // A Redis outage emits an error per reconnect attempt; one log line a few seconds is enough.
      if (Date.now() - lastErrorLog < 5000) return;
      lastErrorLog = Date.now();
      // Not under `err`: its serializer keeps message and stack only, and an AggregateError of a
      // dual-stack connect has an empty message; the address, code and attempts are what helps.
      app.log.warn({ redis: which, error: describeConnectionError(error) }, 'redis connection error');
    };
    redis.on('error', logError('commands'));
    subscriber.on('error', logError('subscriber'));
    redis.on('ready', () => app.log.info({ mode: connections.mode }, 'redis ready'));

    const stopWatching: Array<() => void> = [];
    if (redis instanceof Redis && subscriber instanceof Redis) {
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
      // On a cluster, a silent node is the cluster's to detect: its replica takes over after
      // cluster-node-timeout and the client follows the new topology (refreshed every 2 s).
      stopWatching.push(watch(redis, 'commands', 2), watch(subscriber, 'subscriber', 3));
    }

    app.decorate<RedisClient>('redis', redis);
    app.decorate(
      'store',
      new TodoStore(
        {
          client: redis,
          publish: connections.publishCommand,
          ...(connections.mode === 'cluster'
            ? {
                replicaWait: {
                  replicas: config.REDIS_CLUSTER_WAIT_REPLICAS,
                  timeoutMs: config.REDIS_CLUSTER_WAIT_TIMEOUT_MS,
                },
              }
            : {}),
        },
        config.REDIS_KEY_PREFIX,
        {
          maxTodos: config.MAX_TODOS_PER_LIST,
          maxListBytes: config.MAX_LIST_BYTES,
          emptyListTtlSeconds: config.EMPTY_LIST_TTL_SECONDS,
        },
        (operation, seconds, failed) => app.metrics.observeRedis(operation, seconds, failed),
      ),
    );
    app.decorate('events', new EventHub(connections.feed, app.log));
    app.decorate('redisAnswers', async () => {
      try {
        return await connections.answers();
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
