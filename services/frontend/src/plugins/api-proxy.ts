import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import compress from '@fastify/compress';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Dispatcher, Pool } from 'undici';
import {
  classifyUpstreamError,
  copyResponseHeaders,
  poolOptions,
  rootCode,
  sendInvalidUpstreamResponse,
  sendUpstreamProblem,
  type UpstreamOptions,
  upstreamRequestHeaders,
} from '../lib/upstream.ts';

/**
 * /api/* to the backend over a keep-alive pool, straight on undici's dispatcher: no per-request
 * stream objects for the common case. Responses of known length up to BUFFER_LIMIT are collected
 * and sent in one write (and, being a buffer, compressed in one call when large enough); larger or
 * unknown-length bodies are streamed with backpressure. Request bodies are always streamed.
 * (This replaced @fastify/reply-from here, which cost ~2/3 of the frontend's CPU per request.)
 */

/** Smaller responses are not worth compressing (gzip's own overhead is ~20 bytes, plus the CPU). */
const COMPRESS_THRESHOLD = 1024;
/**
 * Bodies up to this size (with a Content-Length) are read whole; larger ones stream. 64 KiB holds a
 * list of ~270 todos; collecting bigger ones at 50 requests at once grew the heap by tens of MB.
 */
const BUFFER_LIMIT = 64 * 1024;
const API_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * One quiet retry for reads that failed on a pooled keep-alive connection the backend had just
 * closed (a race every keep-alive pool has). Never retries writes, nor a request the backend
 * answered (even with 503: a retry would multiply load on a struggling backend).
 */
function retryable(method: string, attempt: number, error: Error): boolean {
  if (attempt > 0 || (method !== 'GET' && method !== 'HEAD')) return false;
  const code = rootCode(error);
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET';
}

/** One proxied request's response, from undici's callbacks to the Fastify reply. */
class ProxiedResponse implements Dispatcher.DispatchHandler {
  private started = false;
  private finished = false;
  private chunks: Buffer[] = [];
  private stream: Readable | undefined;

  constructor(
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
    private readonly retry: (error: Error) => boolean,
  ) {}

  // Present so that undici takes this for its current handler API (it checks for this method).
  onRequestStart(): void {}

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx informational: the final response follows
    this.started = true;
    const reply = this.reply;
    reply.code(statusCode);
    copyResponseHeaders(reply, headers);
    if (statusCode === 204 || statusCode === 304 || this.request.method === 'HEAD') {
      // No body by definition. Answer now: undici 7 reports a 304 with a Content-Length (which
      // RFC 9110 8.6 allows) as a length mismatch afterwards, which is then ignored.
      this.finished = true;
      reply.send();
      return;
    }
    const length = Number(headers['content-length']);
    if (Number.isFinite(length) && length <= BUFFER_LIMIT) return;
    const stream = new Readable({ read: () => controller.resume() });
    this.stream = stream;
    // A client that goes away stops the upstream transfer.
    reply.raw.on('close', () => {
      if (!this.finished) controller.abort(new Error('client closed the connection'));
    });
    reply.send(stream);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.stream) {
      if (!this.stream.push(chunk)) controller.pause();
    } else if (!this.finished) {
      this.chunks.push(chunk);
    }
  }

  onResponseEnd(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream) {
      this.stream.push(null);
      return;
    }
    const chunks = this.chunks;
    this.reply.send(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream) {
      // Our headers are out: all we can do is cut the response short, as the backend did.
      this.stream.destroy(error);
      return;
    }
    if (this.reply.sent) return;
    if (!this.started) {
      if (this.retry(error)) return;
      sendUpstreamProblem(this.reply, error);
    } else if (classifyUpstreamError(error).kind === 'timeout') {
      sendUpstreamProblem(this.reply, error);
    } else {
      sendInvalidUpstreamResponse(this.reply, rootCode(error));
    }
  }
}

function forward(pool: Pool, request: FastifyRequest, reply: FastifyReply, attempt: number): void {
  const body = request.body instanceof Readable ? request.body : null;
  const retry = (error: Error): boolean => {
    if (!retryable(request.method, attempt, error)) return false;
    forward(pool, request, reply, attempt + 1);
    return true;
  };
  pool.dispatch(
    {
      path: request.url,
      method: request.method as Dispatcher.HttpMethod,
      headers: upstreamRequestHeaders(request),
      body,
    },
    new ProxiedResponse(request, reply, retry),
  );
}

export default async function apiProxy(app: FastifyInstance, options: UpstreamOptions) {
  const pool = new Pool(options.backendUrl, poolOptions(options, options.timeoutMs));
  app.addHook('onClose', async () => {
    await pool.close();
  });

  await app.register(async (api) => {
    // Bodies pass through as the raw request stream: no parsing, no buffering.
    api.removeAllContentTypeParsers();
    api.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    await api.register(compress, { encodings: ['br', 'gzip'], threshold: COMPRESS_THRESHOLD });
    api.route({
      method: API_METHODS,
      url: '/api/*',
      // The backend writes the access log line of every API request (same request id).
      config: { accessLog: 'errors' },
      handler: (request, reply) => {
        forward(pool, request, reply, 0);
      },
    });
  });
}
