import FastifyOtelInstrumentation from '@fastify/otel';
import { context, propagation, type Span, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { FastifyPluginAsync } from 'fastify';
import { ConfigError } from '../config.ts';
import { listTag } from '../list-tag.ts';
import { tracingRequested } from './requested.ts';
import { assignTraceIds } from './trace-context.ts';

/**
 * OpenTelemetry tracing, configured by the standard OTEL_* variables and off unless an OTLP
 * endpoint is named. Only instrumentations that work in a bundle are used: `@fastify/otel` is a
 * Fastify plugin, undici's is fed by diagnostics_channel, and the backend applies ioredis's to the
 * bundled module itself (nothing here relies on require/import hooks, which never see a bundle).
 */

type Env = Record<string, string | undefined>;

export interface Tracing {
  /**
   * Registered first in every service: a span per request, named `<METHOD> <route>`, and the
   * request's log lines given that span's traceId and spanId.
   */
  fastifyPlugin: FastifyPluginAsync;
  /** Sets this SDK as the one instrumentations report to (e.g. ioredis's in the backend). */
  adopt(instrumentation: Instrumentation): void;
  /** Sends what is still buffered; the service calls it when it closes. */
  shutdown(): Promise<void>;
}

const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

function samplerFrom(env: Env): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').trim().toLowerCase();
  if (!SAMPLERS.includes(name)) {
    throw new ConfigError(`invalid configuration: OTEL_TRACES_SAMPLER must be one of ${SAMPLERS.join(', ')}`);
  }
  let ratio = 1;
  if (name.endsWith('traceidratio') && env.OTEL_TRACES_SAMPLER_ARG !== undefined) {
    ratio = Number(env.OTEL_TRACES_SAMPLER_ARG);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
      throw new ConfigError('invalid configuration: OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1');
    }
  }
  const root = name.endsWith('always_off')
    ? new AlwaysOffSampler()
    : name.endsWith('traceidratio')
      ? new TraceIdRatioBasedSampler(ratio)
      : new AlwaysOnSampler();
  return name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

function exporterFrom(env: Env) {
  const protocol = (
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ??
    env.OTEL_EXPORTER_OTLP_PROTOCOL ??
    'http/protobuf'
  ).trim();
  // Both read the endpoint, headers and timeout from the OTEL_EXPORTER_OTLP_* variables themselves.
  if (protocol === 'http/protobuf') return new OtlpProtobufExporter();
  if (protocol === 'http/json') return new OtlpJsonExporter();
  throw new ConfigError('invalid configuration: OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json');
}

/** The batch span processor's standard variables (OTEL_BSP_*); unset ones keep the SDK's defaults. */
function batchOptionsFrom(env: Env) {
  const options: Record<string, number> = {};
  const fields = {
    OTEL_BSP_SCHEDULE_DELAY: 'scheduledDelayMillis',
    OTEL_BSP_EXPORT_TIMEOUT: 'exportTimeoutMillis',
    OTEL_BSP_MAX_QUEUE_SIZE: 'maxQueueSize',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 'maxExportBatchSize',
  } as const;
  for (const [name, field] of Object.entries(fields)) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) {
      throw new ConfigError(`invalid configuration: ${name} must be a positive integer`);
    }
    options[field] = value;
  }
  return options;
}

const LIST_ID = /^(\/(?:api\/lists|l)\/)[A-Za-z0-9_-]{22}(?=[/?]|$)/;

/**
 * Paths go into spans without the list id (a list's credential, never written anywhere) and
 * without the query; `tasktier.list` is the same one-way tag the logs carry (list-tag.ts).
 */
function pathAttributes(url: string): Record<string, string> {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  const tag = listTag(path);
  return {
    'url.path': path.replace(LIST_ID, '$1{listId}'),
    ...(tag === undefined ? {} : { 'tasktier.list': tag }),
  };
}

/** Requests that are not worth a trace: the probes (every few seconds per pod). */
const UNTRACED_ROUTES = new Set(['/healthz', '/readyz']);

/**
 * Starts the SDK when the OTEL_* variables ask for it (tracingRequested), else returns undefined
 * and nothing of OpenTelemetry is set up. A bad value is a ConfigError (one line, exit 1).
 */
export function startTracing(serviceName: string, serviceVersion: string, env: Env = process.env): Tracing | undefined {
  if (!tracingRequested(env)) return undefined;
  const sampler = samplerFrom(env);
  const exporter = exporterFrom(env);
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) win over the defaults.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': serviceName, 'service.version': serviceVersion }))
    .merge(detectResources({ detectors: [envDetector] }));
  const processor = new BatchSpanProcessor({ exporter, ...batchOptionsFrom(env) });
  const provider = new TracerProvider({ resource, sampler, spanProcessors: [processor] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);

  const fastify = new FastifyOtelInstrumentation({
    // A span per request and one for its handler; hook spans would triple the spans for little.
    instrumentHooks: false,
    ignorePaths: (route: { url: string }) => UNTRACED_ROUTES.has(route.url),
    requestHook: (span: Span, request: { method: string; url: string; routeOptions: { url?: string } }) => {
      span.updateName(`${request.method} ${request.routeOptions.url ?? 'unmatched'}`);
      span.setAttributes(pathAttributes(request.url));
    },
  });
  const undici = new UndiciInstrumentation({
    requireParentforSpans: true,
    startSpanHook: (request: { origin: string; path: string }) => {
      const { 'url.path': path, ...rest } = pathAttributes(request.path);
      return { ...rest, 'url.path': path, 'url.full': `${request.origin}${path}`, 'url.query': '' };
    },
  });
  for (const instrumentation of [fastify, undici]) instrumentation.setTracerProvider(provider);

  const otelPlugin = fastify.plugin();
  const fastifyPlugin: FastifyPluginAsync = async (app) => {
    await app.register(otelPlugin);
    // After @fastify/otel's own onRequest hook, which starts the span and makes it the active one.
    app.addHook('onRequest', (request, reply, next) => {
      const ids = trace.getSpan(context.active())?.spanContext() ?? assignTraceIds(request.raw);
      request.log = request.log.child({ traceId: ids.traceId, spanId: ids.spanId });
      reply.log = request.log;
      next();
    });
  };
  // Not encapsulated: the hooks apply to every route the service registers after it.
  Object.assign(fastifyPlugin, { [Symbol.for('skip-override')]: true });
  return {
    fastifyPlugin,
    adopt: (instrumentation) => instrumentation.setTracerProvider(provider),
    shutdown: async () => {
      undici.disable();
      await provider.shutdown();
    },
  };
}
