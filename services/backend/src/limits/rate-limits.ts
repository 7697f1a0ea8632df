import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import { sendProblem } from '@tasktier/service-kit';
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import type { RedisClient } from '../redis/client.ts';
import { fallbackStore } from './fallback-store.ts';

/** The per-client request budgets; each counts per client address per minute, in Redis. */
export type LimitName = 'listCreates' | 'reads' | 'writes';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which per-client budget a route draws on (set by this plugin from method and path). */
    abuseLimit?: LimitName;
  }
}

export interface RateLimitsOptions {
  redis: RedisClient;
  /** REDIS_KEY_PREFIX: the counters live under `<prefix>rl:`, inside the backend's ACL key pattern. */
  keyPrefix: string;
  perMinute: Record<LimitName, number>;
  metricsPrefix: string;
}

const WINDOW_MS = 60_000;

const WHAT: Record<LimitName, (max: number) => string> = {
  listCreates: (max) => `too many lists created from your address (at most ${max} a minute)`,
  reads: (max) => `too many requests from your address (at most ${max} reads a minute)`,
  writes: (max) => `too many changes from your address (at most ${max} a minute)`,
};

/** The budget of a route, or none: health, readiness, /version and /metrics are never limited. */
function limitOf(method: string, url: string): LimitName | undefined {
  if (!url.startsWith('/api/')) return undefined;
  if (method === 'GET' || method === 'HEAD') return 'reads';
  if (method === 'POST' && url === '/api/lists') return 'listCreates';
  if (['POST', 'PATCH', 'DELETE'].includes(method) && url.startsWith('/api/lists/:listId/todos')) return 'writes';
  return undefined;
}

/**
 * Per-client request budgets with @fastify/rate-limit's Redis store, shared by every replica.
 * Keyed on `request.ip`: the address Fastify derived through the trusted proxies (TRUST_PROXY),
 * so a client cannot pick it. IPv6 clients count per /64, which one subscriber usually holds whole.
 * When Redis refuses the counters (full, or away), they are kept in this process meanwhile
 * (fallback-store.ts): a limit never lifts itself.
 */
export default fp(
  async (app, { redis, keyPrefix, perMinute, metricsPrefix }: RateLimitsOptions) => {
    let lastFallbackLog = 0;
    const store = fallbackStore(redis, `${keyPrefix}rl:`, (error) => {
      // Every request meets it while Redis is away: one line every few seconds is enough.
      if (Date.now() - lastFallbackLog < 5000) return;
      lastFallbackLog = Date.now();
      app.log.warn({ err: { message: error.message } }, 'rate-limit counters kept in this process: Redis refused them');
    });
    await app.register(rateLimit, {
      global: false,
      store,
      skipOnError: false,
      timeWindow: WINDOW_MS,
      keyGenerator: (request) => `${request.routeOptions.config.abuseLimit}:${normalizeIP(request.ip)}`,
      max: (request) => perMinute[request.routeOptions.config.abuseLimit ?? 'reads'],
    });
    const refused = new Counter({
      name: `${metricsPrefix}_rate_limited_total`,
      help: 'Requests refused by a per-client limit (429), by limit.',
      labelNames: ['limit'] as const,
      registers: [app.metricsRegistry],
    });
    // Without options: the plugin's root store, so the key is exactly `<prefix>rl:<limit>:<address>`.
    const check = app.createRateLimit();

    const enforce: onRequestAsyncHookHandler = async (request: FastifyRequest, reply: FastifyReply) => {
      const result = await check(request);
      if (result.isAllowed || !result.isExceeded) return;
      const name = request.routeOptions.config.abuseLimit ?? 'reads';
      const seconds = Math.max(1, result.ttlInSeconds);
      refused.inc({ limit: name });
      reply.header('retry-after', String(seconds));
      sendProblem(
        reply,
        429,
        `${WHAT[name](result.max)}; try again in ${seconds} s`,
        'rate-limited',
        'Too many requests',
      );
      return reply;
    };

    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const names = new Set(methods.map((method) => limitOf(method, route.url)));
      if (names.size !== 1) return;
      const [name] = names;
      if (!name) return;
      route.config = { ...route.config, abuseLimit: name };
      const hooks = route.onRequest;
      route.onRequest = hooks === undefined ? [enforce] : Array.isArray(hooks) ? [...hooks, enforce] : [hooks, enforce];
    });
  },
  { name: 'rate-limits', dependencies: ['http-metrics'] },
);
