import { randomUUID } from 'node:crypto';
import { BODY_LIMIT_BYTES } from '@tasktier/contract';
import {
  acceptedRequestId,
  health,
  httpMetrics,
  logSerializers,
  requestLog,
  sendProblem,
  trustedProxies,
} from '@tasktier/service-kit';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Config } from './config.ts';
import apiProxy from './plugins/api-proxy.ts';
import eventsProxy from './plugins/events-proxy.ts';
import metrics from './plugins/metrics.ts';
import problems from './plugins/problems.ts';
import securityHeaders from './plugins/security-headers.ts';
import staticFiles from './plugins/static.ts';

export interface AppOptions {
  /** The built UI (index.html and assets/). */
  publicDir: string;
  version?: string;
  /** `false` for quiet tests, or a stream to capture the JSON lines; JSON to stdout by default. */
  logger?: false | { stream: NodeJS.WritableStream };
}

/** Builds the frontend app without listening: server.ts listens, tests use inject or listen on port 0. */
export async function buildApp(config: Config, options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger:
      options.logger === false
        ? false
        : {
            level: config.LOG_LEVEL,
            ...(options.logger?.stream ? { stream: options.logger.stream } : {}),
            redact: ['req.headers.authorization', 'req.headers.cookie'],
            serializers: logSerializers,
          },
    // Fastify's own two lines per request are off: request-log.ts writes one line per request.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    trustProxy: trustedProxies(config.TRUST_PROXY).fastify,
    requestIdHeader: false,
    genReqId: (request) => acceptedRequestId(request.headers['x-request-id']) ?? randomUUID(),
    // Explicit server timeouts: a whole request must arrive within 30 s (slow-client protection);
    // idle sockets time out after 2 minutes (event streams carry heartbeats well inside that);
    // keep-alive above the Ingress's 60 s upstream keep-alive so we never close first.
    requestTimeout: 30_000,
    connectionTimeout: 120_000,
    keepAliveTimeout: 72_000,
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
    // A malformed URL (bad percent-encoding) or content type, rejected before routing: problem+json too.
    frameworkErrors: (error, _request, reply) => sendProblem(reply, error.statusCode ?? 400, error.message),
  });

  await app.register(problems);
  await app.register(requestLog);
  await app.register(securityHeaders);
  const build = {
    version: options.version ?? config.APP_VERSION ?? '0.0.0-dev',
    revision: config.APP_REVISION ?? 'unknown',
  };
  await app.register(httpMetrics, { prefix: 'tasktier_frontend', build });
  await app.register(metrics, { prefix: 'tasktier_frontend' });
  await app.register(health, { service: 'frontend', version: build.version });
  const upstream = {
    backendUrl: config.BACKEND_URL,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT_MS,
    connections: config.UPSTREAM_CONNECTIONS,
  };
  await app.register(apiProxy, upstream);
  await app.register(eventsProxy, { ...upstream, eventStreams: config.MAX_EVENT_STREAMS });
  await app.register(staticFiles, { root: options.publicDir });
  return app;
}
