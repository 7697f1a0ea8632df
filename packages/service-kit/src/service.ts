import { BODY_LIMIT_BYTES } from '@tasktier/contract';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { type CommonConfig, ConfigError } from './config.ts';
import health from './health.ts';
import httpMetrics from './http-metrics.ts';
import { runService } from './lifecycle.ts';
import { logSerializers } from './log-serializers.ts';
import { sendProblem } from './problem.ts';
import problems, { type ErrorMapping } from './problems.ts';
import { requestIdFrom } from './request-id.ts';
import requestLog from './request-log.ts';
import { tracingRequested } from './tracing/requested.ts';
import type { Tracing } from './tracing/sdk.ts';
import { assignTraceIds } from './tracing/trace-context.ts';
import { trustedProxies } from './trust-proxy.ts';

/** `false` for quiet tests, or a level and a stream to capture the JSON lines; JSON to stdout by default. */
export type ServiceLogger = false | { level?: string; stream?: { write(line: string): unknown } };

export interface ServiceOptions {
  /** The `service` of /version and the prefix of a start-up error line. */
  name: string;
  /** The prefix of the service's Prometheus metrics, e.g. `tasktier_backend`. */
  metricsPrefix: string;
  config: CommonConfig;
  logger?: ServiceLogger;
  /** Fastify options the service sets differently from the defaults here (e.g. `ajv`, `connectionTimeout`). */
  fastify?: Pick<FastifyServerOptions, 'ajv' | 'connectionTimeout'>;
  /** The service's own errors as problems (its domain errors); the rest get the generic answers. */
  mapError?: ErrorMapping;
  /** Readiness beyond "listening and not draining", e.g. "Redis answers". */
  dependency?: { name: string; ready: () => Promise<boolean> };
  /** OpenTelemetry, when on (startService starts it from the OTEL_* variables); off by default. */
  tracing?: Tracing;
}

/** What startService started from the OTEL_* variables, for the app it builds next. */
let processTracing: Tracing | undefined;

/** The tracing startService started for this process (undefined when off). */
export function activeTracing(): Tracing | undefined {
  return processTracing;
}

/**
 * A service's Fastify app: logger, request ids, trusted proxies, timeouts, problem+json for errors
 * and unknown routes, one log line per request, HTTP metrics, /healthz, /readyz and /version. The
 * service's own parts are registered by `setup`, before the health routes (so an OpenAPI plugin
 * registered there lists them).
 */
export async function createService(
  options: ServiceOptions,
  setup: (app: FastifyInstance) => Promise<void>,
): Promise<FastifyInstance> {
  const { config } = options;
  const logger = options.logger;
  const tracing = options.tracing ?? processTracing;
  const app = Fastify({
    logger:
      logger === false
        ? false
        : {
            level: logger?.level ?? config.LOG_LEVEL,
            ...(logger?.stream ? { stream: logger.stream } : {}),
            redact: ['req.headers.authorization', 'req.headers.cookie'],
            serializers: logSerializers,
          },
    // Fastify's own two lines per request are off: request-log.ts writes one line per request.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    // Every line a request logs carries its traceId and spanId. Without tracing they are made here
    // (trace-context.ts: the caller's trace id from its traceparent, a new span id); with tracing
    // they are the request span's, known only once @fastify/otel started it (tracing/sdk.ts's hook).
    ...(tracing
      ? {}
      : {
          childLoggerFactory: (parent, bindings, childOptions, raw) => {
            const { traceId, spanId } = assignTraceIds(raw);
            return parent.child({ ...bindings, traceId, spanId }, childOptions);
          },
        }),
    requestIdHeader: false,
    genReqId: (request) => requestIdFrom(request.headers['x-request-id']),
    trustProxy: trustedProxies(config.TRUST_PROXY).fastify,
    bodyLimit: BODY_LIMIT_BYTES,
    // Explicit server timeouts: a whole request must arrive within 30 s (slow-client protection);
    // keep-alive above the proxies' 60 s upstream keep-alive (nginx, the Ingress), so that the
    // proxy, not us, closes idle connections and never reuses one we just closed.
    requestTimeout: 30_000,
    keepAliveTimeout: 72_000,
    connectionTimeout: 0,
    // A malformed URL (bad percent-encoding) or content type, rejected before routing: problem+json too.
    frameworkErrors: (error, _request, reply) => sendProblem(reply, error.statusCode ?? 400, error.message),
    ...options.fastify,
  });

  if (tracing) {
    // First, so that every route registered after it gets its span.
    await app.register(tracing.fastifyPlugin);
    app.addHook('onClose', () => tracing.shutdown());
  }
  await app.register(problems, { mapError: options.mapError });
  await app.register(requestLog);
  const build = {
    version: config.APP_VERSION ?? process.env.BUNDLED_VERSION ?? '0.0.0-dev',
    revision: config.APP_REVISION ?? 'unknown',
  };
  await app.register(httpMetrics, { prefix: options.metricsPrefix, build });
  await setup(app);
  await app.register(health, {
    service: options.name,
    version: build.version,
    dependencyReady: options.dependency?.ready,
    dependencyName: options.dependency?.name,
  });
  return app;
}

/**
 * The process entry point of a service: the validated configuration, the app, then listening with
 * the drain sequence on SIGTERM/SIGINT (lifecycle.ts). A bad configuration, or anything else that
 * stops the app from being built, is one line on stderr (`<name>: <message>`) and exit code 1.
 */
export async function startService<C extends CommonConfig>(
  name: string,
  loadConfig: () => C,
  buildApp: (config: C) => Promise<FastifyInstance>,
): Promise<void> {
  let config: C;
  let app: FastifyInstance;
  try {
    config = loadConfig();
    // OpenTelemetry is loaded only when asked for: off, none of it is even evaluated.
    if (tracingRequested(process.env)) {
      const { startTracing } = await import('./tracing/sdk.ts');
      processTracing = startTracing(name, config.APP_VERSION ?? process.env.BUNDLED_VERSION ?? '0.0.0-dev');
    }
    app = await buildApp(config);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${name}: ${error instanceof ConfigError ? message : message.split('\n')[0]}\n`);
    process.exit(1);
  }
  await runService(app, config);
}
