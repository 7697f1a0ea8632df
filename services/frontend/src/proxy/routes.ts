import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import compress from '@fastify/compress';
import { BODY_LIMIT_BYTES } from '@tasktier/contract';
import { sendProblem, spreadRetryAfter } from '@tasktier/service-kit';
import type { FastifyInstance } from 'fastify';
import { UpstreamFailures } from './failures.ts';
import { type ForwardOptions, forward } from './forward.ts';
import type { ProxyMetrics } from './metrics.ts';
import { type BackendOptions, backendPool } from './pool.ts';

/**
 * The proxy's two routes: /api/* to the backend over a keep-alive pool (forward.ts), bodies passed
 * through as they are, JSON answers compressed for clients that accept it; and the live-sync event
 * stream through a pool of its own. (This replaced @fastify/reply-from, which cost about a third
 * of the frontend's CPU per request.)
 */
export interface ProxyOptions extends BackendOptions {
  /** MAX_EVENT_STREAMS: the connection limit of the events pool (an open stream holds one). */
  eventStreams: number;
  metrics: ProxyMetrics;
}

/** Smaller responses are not worth compressing (gzip's own overhead is ~20 bytes, plus the CPU). */
const COMPRESS_THRESHOLD = 1024;
const API_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export default async function proxyRoutes(app: FastifyInstance, options: ProxyOptions) {
  const failures = new UpstreamFailures(options.metrics);
  await app.register(apiRoute, { ...options, failures });
  await app.register(eventsRoute, { ...options, failures });
}

type RouteOptions = ProxyOptions & { failures: UpstreamFailures };

async function apiRoute(app: FastifyInstance, options: RouteOptions) {
  const pool = backendPool(options, options.timeoutMs);
  app.addHook('onClose', async () => {
    await pool.close();
  });
  // Bodies pass through as the raw request stream: no parsing, no buffering.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  // Request bodies pass through as sent, compressed or not: inflating them here would forward
  // plain bytes labelled with the client's Content-Encoding and Content-Length.
  await app.register(compress, {
    encodings: ['br', 'gzip'],
    threshold: COMPRESS_THRESHOLD,
    globalDecompression: false,
  });
  const forwardOptions: ForwardOptions = { stallTimeoutMs: options.timeoutMs, failures: options.failures };
  app.route({
    method: API_METHODS,
    url: '/api/*',
    // The backend writes the access log line of every API request (same request id).
    config: { accessLog: 'errors' },
    handler: (request, reply) => {
      // The API's own limit, checked before anything is sent on (the body is not parsed here,
      // so Fastify's bodyLimit does not apply); the backend enforces it on chunked bodies.
      if (Number(request.headers['content-length']) > BODY_LIMIT_BYTES) {
        return sendProblem(reply, 413, `the request body is larger than ${BODY_LIMIT_BYTES} bytes`, 'body-too-large');
      }
      forward(pool, request, reply, forwardOptions);
    },
  });
}

function isEventStream(statusCode: number, headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return statusCode === 200 && typeof type === 'string' && type.startsWith('text/event-stream');
}

/**
 * GET /api/lists/:listId/events through its own pool: no body timeout (an idle stream is quiet
 * between heartbeats), never compressed, each chunk passed on as it arrives, and ended cleanly on
 * shutdown so browsers reconnect to another replica.
 */
async function eventsRoute(app: FastifyInstance, options: RouteOptions) {
  // Sized for streams, not requests: with the API pool's size, stream number 257 would wait for a
  // free connection, with no answer, for as long as the others stay open.
  const pool = backendPool(options, 0, options.eventStreams);
  const { sseStreams } = options.metrics;
  /** Open streams and how to end each, so that shutdown can end them cleanly. */
  const open = new Map<Readable, () => void>();
  const forwardOptions: ForwardOptions = {
    stallTimeoutMs: options.timeoutMs,
    failures: options.failures,
    live: {
      accepts: isEventStream,
      opened: (stream, end, reply) => {
        // Through any proxy in front unbuffered, and never transformed (compressed) on the way.
        reply.header('x-accel-buffering', 'no').header('cache-control', 'no-cache, no-transform');
        open.set(stream, end);
        sseStreams.inc();
        stream.once('close', () => {
          open.delete(stream);
          sseStreams.dec();
        });
      },
    },
  };

  /** Streams open or being set up: each holds a pool connection, and the pool has eventStreams. */
  let active = 0;
  app.get('/api/lists/:listId/events', { config: { longLived: true } }, (request, reply) => {
    if (active >= options.eventStreams) {
      // Refused at once: waiting for a pool connection would leave the browser without an answer
      // for as long as other streams stay open.
      reply.header('retry-after', spreadRetryAfter());
      return sendProblem(
        reply,
        503,
        `this server holds its maximum of ${options.eventStreams} live-sync streams; reconnect in a moment`,
        'overloaded',
      );
    }
    active++;
    reply.raw.once('close', () => {
      active--;
    });
    forward(pool, request, reply, forwardOptions);
  });

  app.addHook('preClose', async () => {
    for (const end of open.values()) end();
  });
  app.addHook('onClose', async () => {
    await pool.destroy();
  });
}
