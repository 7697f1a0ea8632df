import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import {
  activeTracing,
  createService,
  type ServiceLogger,
  type ServiceOptions,
  trustedProxies,
} from '@tasktier/service-kit';
import type { Config } from './config.ts';
import rateLimits from './limits/rate-limits.ts';
import events from './live/events-route.ts';
import { StreamLeases } from './live/stream-leases.ts';
import { backendMetrics } from './metrics.ts';
import { apiProblems } from './problems.ts';
import redis from './redis/plugin.ts';
import lists from './todos/list-routes.ts';
import todos from './todos/routes.ts';
import { traceRedisCommands } from './tracing.ts';

export const SERVICE_NAME = 'tasktier-backend';
export const VERSION = process.env.BUNDLED_VERSION ?? '0.0.0-dev';

export interface BuildOptions {
  logger?: ServiceLogger;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

/** Builds the backend without listening, so tests can drive it with app.inject(). */
export async function buildApp(config: Config, options: BuildOptions = {}) {
  await traceRedisCommands(activeTracing());
  const proxies = trustedProxies(config.TRUST_PROXY);
  const service: ServiceOptions = {
    name: SERVICE_NAME,
    metricsPrefix: 'tasktier_backend',
    config,
    logger: options.logger,
    // Strict types: "true" is not a boolean and 5 is not a title.
    fastify: { ajv: { customOptions: { coerceTypes: false, removeAdditional: true, allErrors: false } } },
    mapError: apiProblems,
    dependency: { name: 'redis', ready: () => app.redisAnswers() },
  };
  const app = await createService(service, async (app) => {
    // A POST with Content-Type: application/json and no body (some clients do this for POST
    // /api/lists) is "no body", not a parse error; schemas still require bodies where needed.
    // JSON only: anything else (text/plain included, which Fastify parses by default) is a 415.
    app.removeContentTypeParser('text/plain');
    const parseJson = app.getDefaultJsonParser('error', 'error');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text === '') return done(null, undefined);
      return parseJson(request, text, done);
    });

    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'tasktier API',
          version: VERSION,
          description: 'Collaborative to-do lists. Todo-Backend contract at /api/lists/{listId}/todos.',
        },
        tags: [{ name: 'lists' }, { name: 'todos' }, { name: 'events' }, { name: 'health' }],
      },
    });
    // Read by the Redis plugin and the events route.
    app.decorate('metrics', backendMetrics(app.metricsRegistry, 'tasktier_backend'));
    await app.register(cors, {
      origin: config.CORS_ORIGINS === '*' ? '*' : splitList(config.CORS_ORIGINS),
      methods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Content-Type', 'X-Request-Id', 'If-None-Match', 'If-Match'],
      exposedHeaders: ['Location', 'X-Request-Id', 'ETag'],
      credentials: false,
      maxAge: 600,
    });
    await app.register(redis, { config });
    if (config.RATE_LIMITS === 'on') {
      await app.register(rateLimits, {
        redis: app.redis,
        keyPrefix: config.REDIS_KEY_PREFIX,
        metricsPrefix: 'tasktier_backend',
        perMinute: {
          listCreates: config.LIST_CREATES_PER_MINUTE,
          reads: config.READS_PER_MINUTE,
          writes: config.WRITES_PER_MINUTE,
        },
      });
    }
    // A proxy in front that TRUST_PROXY does not name: every client behind it counts as the proxy,
    // so all of them share one rate-limit budget. Said once, loudly, rather than found in production.
    let untrustedForwardSeen = false;
    app.addHook('onRequest', (request, _reply, done) => {
      if (!untrustedForwardSeen && request.headers['x-forwarded-for'] !== undefined) {
        const peer = request.socket.remoteAddress ?? '';
        if (!proxies.trusts(peer)) {
          untrustedForwardSeen = true;
          app.log.warn(
            { peer },
            'X-Forwarded-For from a peer TRUST_PROXY does not name: not believed, so every client behind that peer shares its address (and its rate limits); name your proxies in TRUST_PROXY',
          );
        }
      }
      done();
    });
    await app.register(lists, { trustedProxy: proxies.trusts });
    await app.register(todos, { trustedProxy: proxies.trusts });
    await app.register(events, {
      heartbeatMs: config.SSE_HEARTBEAT_MS,
      maxStreams: config.MAX_EVENT_STREAMS,
      subscribeTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
      // A lease outlives a few missed heartbeats: a stream counts until its replica stops renewing.
      leases:
        config.RATE_LIMITS === 'on'
          ? new StreamLeases(
              app.redis,
              config.REDIS_KEY_PREFIX,
              config.EVENT_STREAMS_PER_CLIENT,
              Math.max(3 * config.SSE_HEARTBEAT_MS, 10_000),
            )
          : undefined,
    });

    app.get('/api/openapi.json', { schema: { hide: true } }, () => app.swagger());
  });
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
