import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import compress from '@fastify/compress';
import replyFrom, { type FastifyReplyFromHooks } from '@fastify/reply-from';
import { sendProblem } from '@tasktier/service-kit';
import type { FastifyInstance, FastifyRequest, RawServerBase, RequestGenericInterface } from 'fastify';

/**
 * /api/* goes to the backend through a keep-alive connection pool (undici), bodies streamed both
 * ways without buffering. Two pools with different timeouts:
 * - API calls: UPSTREAM_TIMEOUT_MS for the response headers and between body chunks -> 504.
 * - The live-sync event stream: the same limit for the headers, but no body timeout, since an
 *   idle stream is quiet between heartbeats (reply-from's `timeout` would set both, see stack notes).
 */
export interface ProxyOptions {
  backendUrl: string;
  timeoutMs: number;
  connectTimeoutMs: number;
  connections: number;
  /** Connection limit of the events pool: an open stream holds a connection for its lifetime. */
  eventStreams: number;
}

export const EVENTS_ROUTE = '/api/lists/:listId/events';
/** Smaller responses are not worth compressing (gzip's own overhead is ~20 bytes, plus the CPU). */
const COMPRESS_THRESHOLD = 1024;
/** Bodies up to this size (with a Content-Length) are read whole before compression; larger ones stream. */
const BUFFER_LIMIT = 256 * 1024;
const ACCEPTS_COMPRESSION = /\b(gzip|br)\b/i;
const API_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

// Hop-by-hop headers (RFC 9110 7.6.1) are about one connection and must not be forwarded.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

type Hooks = Required<FastifyReplyFromHooks>;
type AnyRequest = FastifyRequest<RequestGenericInterface, RawServerBase>;

/** X-Forwarded-For for the backend: the trusted chain Fastify computed, client first, our peer last. */
function forwardedFor(request: AnyRequest): string {
  const chain = request.ips ? [...request.ips].reverse() : [request.socket.remoteAddress ?? request.ip];
  return chain.join(', ');
}

const rewriteRequestHeaders: Hooks['rewriteRequestHeaders'] = (request, headers) => {
  const out: IncomingHttpHeaders = { ...headers };
  // Forwarding headers are rebuilt from what Fastify trusts (TRUST_PROXY), never passed as sent.
  delete out.forwarded;
  delete out['x-forwarded-prefix'];
  delete out['x-forwarded-port'];
  out['x-forwarded-for'] = forwardedFor(request);
  out['x-forwarded-proto'] = request.protocol;
  out['x-forwarded-host'] = request.host;
  out['x-request-id'] = request.id;
  return out;
};

const rewriteResponseHeaders: Hooks['rewriteHeaders'] = (headers) => {
  const out: IncomingHttpHeaders = { ...headers };
  const listed = typeof out.connection === 'string' ? out.connection.toLowerCase().split(',') : [];
  for (const name of [...HOP_BY_HOP, ...listed.map((n) => n.trim())]) delete out[name];
  return out;
};

interface ErrorWithCause {
  code?: string;
  statusCode?: number;
  cause?: unknown;
  errors?: unknown[];
}

/** The network error code behind reply-from's wrapper errors (and Node's AggregateError for dual-stack connects). */
function rootCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const { cause, errors, code } = current as ErrorWithCause;
    if (cause) current = cause;
    else if (errors?.length) current = errors[0];
    else return code;
  }
  return undefined;
}

export type UpstreamErrorKind = 'refused' | 'unreachable' | 'timeout' | 'reset' | 'other';

export function classifyUpstreamError(error: unknown): { kind: UpstreamErrorKind; status: 502 | 504; detail: string } {
  const code = rootCode(error);
  const wrapperCode = (error as ErrorWithCause | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return {
        kind: 'refused',
        status: 502,
        detail: 'the backend refused the connection (it may be down or restarting)',
      };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { kind: 'unreachable', status: 502, detail: `the backend is unreachable (${code})` };
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return { kind: 'timeout', status: 504, detail: 'the backend did not answer in time' };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return { kind: 'reset', status: 502, detail: 'the backend closed the connection before answering' };
  }
  if (wrapperCode === 'FST_REPLY_FROM_GATEWAY_TIMEOUT' || wrapperCode === 'FST_REPLY_FROM_TIMEOUT') {
    return { kind: 'timeout', status: 504, detail: 'the backend did not answer in time' };
  }
  return { kind: 'other', status: 502, detail: 'the backend could not be reached' };
}

const onError: Hooks['onError'] = (reply, { error }) => {
  const { kind, status, detail } = classifyUpstreamError(error);
  reply.server.metrics.upstreamErrors.inc({ kind });
  reply.request.log.warn({ kind, code: rootCode(error) }, 'upstream request failed');
  reply.header('retry-after', '1');
  sendProblem(reply, status, detail, status === 504 ? 'upstream-timeout' : 'upstream-unavailable');
};

/**
 * One quiet retry for reads that failed on a pooled keep-alive connection the backend had just
 * closed (a race every keep-alive pool has). Never retries writes, and never retries an answer
 * (reply-from would otherwise retry GETs answered 503 up to ten times).
 */
const retryDelay: Hooks['retryDelay'] = ({ err, req, attempt }) => {
  // `req` is reply-from's upstream request here (it has the method), not the Fastify request.
  if (attempt > 0 || !err || (req.method !== 'GET' && req.method !== 'HEAD')) return null;
  const code = rootCode(err);
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' ? 1 : null;
};

function undiciOptions(options: ProxyOptions, bodyTimeout: number, connections = options.connections) {
  return {
    connections,
    pipelining: 1,
    // Idle pooled connections are dropped after 4 s, shorter than the backend's 5 s drain: a
    // draining backend closes idle connections when its drain ends, and a request sent on one
    // at that instant would fail. Busy connections get `Connection: close` during the drain.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 4_000,
    headersTimeout: options.timeoutMs,
    bodyTimeout,
    // reply-from's default would not verify the backend's certificate if BACKEND_URL is https.
    connect: { timeout: options.connectTimeoutMs, rejectUnauthorized: true },
  };
}

const baseReplyOptions: FastifyReplyFromHooks = {
  rewriteRequestHeaders,
  rewriteHeaders: rewriteResponseHeaders,
  onError,
  retryDelay,
};

/** Reads a (small) stream whole. (node:stream/consumers goes through a Blob, measurably slower.) */
async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

/** Open event streams, so that shutdown can end them cleanly (browsers then reconnect elsewhere). */
interface OpenStream {
  upstream: Readable;
  downstream: PassThrough;
}

export default async function proxy(app: FastifyInstance, options: ProxyOptions) {
  // API calls: bodies pass through as streams (no parsing), JSON responses compressed.
  await app.register(async (api) => {
    api.removeAllContentTypeParsers();
    api.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    await api.register(replyFrom, {
      base: options.backendUrl,
      undici: undiciOptions(options, options.timeoutMs),
      disableRequestLogging: true,
    });
    // A proxied body is a stream. @fastify/compress compresses every stream (its threshold only
    // applies to buffers) through a zlib stream per response, which costs several times more than
    // compressing a buffer in one go. So bodies of known, moderate length are read first (before
    // compress runs): small ones then go out uncompressed, the rest compressed in one call.
    // Larger or unknown-length bodies stay streamed.
    api.addHook('onSend', async (request, reply, payload) => {
      if (!(payload instanceof Readable)) return payload;
      if (reply.statusCode === 204 || reply.statusCode === 304) {
        // No body by definition: nothing to compress (or to label with a Content-Encoding). This
        // also lets through a 304 that carries a Content-Length (allowed by RFC 9110 8.6), whose
        // empty body undici 7 reports as a length mismatch.
        payload.on('error', () => {});
        payload.resume();
        return null;
      }
      if (!ACCEPTS_COMPRESSION.test(request.headers['accept-encoding'] ?? '')) return payload;
      const length = Number(reply.getHeader('content-length'));
      return Number.isFinite(length) && length <= BUFFER_LIMIT ? readAll(payload) : payload;
    });
    await api.register(compress, { encodings: ['br', 'gzip'], threshold: COMPRESS_THRESHOLD });
    const replyOptions = baseReplyOptions;
    api.route({
      method: [...API_METHODS],
      url: '/api/*',
      handler: (_request, reply) => reply.from(undefined, replyOptions),
    });
  });

  // The live-sync stream: no body timeout, never compressed, ended cleanly on shutdown.
  const streams = new Set<OpenStream>();
  await app.register(async (events) => {
    await events.register(replyFrom, {
      base: options.backendUrl,
      // Sized for streams, not requests: with the API pool's size, stream number 257 would wait
      // for a free connection, with no answer, for as long as the others stay open.
      undici: undiciOptions(options, 0, options.eventStreams),
      disableRequestLogging: true,
    });
    const replyOptions: FastifyReplyFromHooks = {
      ...baseReplyOptions,
      onResponse: (_request, reply, res) => {
        const upstream = res.stream as Readable;
        const contentType = String(reply.getHeader('content-type') ?? '');
        if (reply.statusCode !== 200 || !contentType.startsWith('text/event-stream')) {
          return reply.send(upstream);
        }
        // A pass-through we can end ourselves; each upstream chunk is written as it arrives.
        const downstream = new PassThrough();
        const stream = { upstream, downstream };
        streams.add(stream);
        app.metrics.sseStreams.inc();
        upstream.on('error', (error) => downstream.destroy(error));
        downstream.on('close', () => {
          streams.delete(stream);
          app.metrics.sseStreams.dec();
          upstream.destroy();
        });
        upstream.pipe(downstream);
        reply.header('x-accel-buffering', 'no').header('cache-control', 'no-cache, no-transform');
        return reply.send(downstream);
      },
    };
    events.get(EVENTS_ROUTE, { config: { longLived: true } }, (_request, reply) => reply.from(undefined, replyOptions));
  });

  app.addHook('preClose', async () => {
    for (const { upstream, downstream } of streams) {
      upstream.unpipe(downstream);
      downstream.end();
    }
  });
}
