import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { sendProblem } from '@tasktier/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher, Pool } from 'undici';
import { classifyUpstreamError, rootCode, type UpstreamFailures } from './failures.ts';
import { copyResponseHeaders, upstreamRequestHeaders } from './headers.ts';

/**
 * Forwards one request to the backend straight on undici's dispatcher and answers the Fastify
 * reply with the backend's response: no per-request stream objects for the common case.
 * Responses of known length up to BUFFER_LIMIT are collected and sent in one write; larger or
 * unknown-length bodies, and live responses (options.live), are streamed with backpressure (a client that stops
 * reading for longer than the upstream timeout is cut off, so it cannot hold a backend connection).
 * Request bodies are always streamed. A client that goes away aborts its upstream request, at
 * whatever stage it is (queued for a connection, waiting for the answer, streaming).
 */

/**
 * Bodies up to this size (with a Content-Length) are read whole; larger ones stream. 64 KiB holds a
 * list of ~270 todos; collecting bigger ones at 50 requests at once grew the heap by tens of MB.
 */
const BUFFER_LIMIT = 64 * 1024;

export interface ForwardOptions {
  /** How long a streamed response may wait for a client that stopped reading (UPSTREAM_TIMEOUT_MS). */
  stallTimeoutMs: number;
  /** Answers the client when the backend fails, and counts it. */
  failures: UpstreamFailures;
  /**
   * Responses that `accepts` are live (the event streams): streamed as they arrive, never
   * buffered, and handed to `opened` before they are sent, with a function that ends one cleanly.
   */
  live?: {
    accepts(statusCode: number, headers: IncomingHttpHeaders): boolean;
    opened(stream: Readable, end: () => void, reply: FastifyReply): void;
  };
}

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
  private controller: Dispatcher.DispatchController | undefined;
  private clientGone = false;
  private started = false;
  private finished = false;
  private chunks: Buffer[] = [];
  private copiedHeaders: string[] = [];
  private stream: Readable | undefined;
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
    private readonly options: ForwardOptions,
    private readonly retry: (error: Error) => boolean,
  ) {}

  /** The client closed its connection before the response was done: stop the upstream request. */
  clientClosed(): void {
    if (this.finished) return;
    this.clientGone = true;
    // Still queued for a pool connection: onRequestStart aborts it when it gets one.
    this.controller?.abort(new Error('client closed the connection'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx informational: the final response follows
    this.started = true;
    const reply = this.reply;
    reply.code(statusCode);
    this.copiedHeaders = copyResponseHeaders(reply, headers);
    if (statusCode === 204 || statusCode === 304 || this.request.method === 'HEAD') {
      // No body by definition. Answer now: undici 7 reports a 304 with a Content-Length (which
      // RFC 9110 8.6 allows) as a length mismatch afterwards, which is then ignored.
      this.finished = true;
      reply.send();
      return;
    }
    const live = this.options.live?.accepts(statusCode, headers) === true;
    const length = Number(headers['content-length']);
    if (!live && Number.isFinite(length) && length <= BUFFER_LIMIT) return;

    const stream = new Readable({
      read: () => {
        clearTimeout(this.stallTimer);
        controller.resume();
      },
      // However the stream ends early (client gone, Fastify gave up on it), the upstream stops too.
      destroy: (error, callback) => {
        clearTimeout(this.stallTimer);
        if (!this.finished) {
          this.finished = true;
          controller.abort(error ?? new Error('client closed the connection'));
        }
        callback(error);
      },
    });
    this.stream = stream;
    if (live) {
      const end = () => {
        if (this.finished) return;
        this.finished = true;
        stream.push(null); // a clean end of the chunked body: browsers reconnect, elsewhere
        controller.abort(new Error('live response ended by the frontend'));
      };
      this.options.live?.opened(stream, end, reply);
    }
    reply.send(stream);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.finished) return;
    const stream = this.stream;
    if (!stream) {
      this.chunks.push(chunk);
    } else if (!stream.push(chunk)) {
      // The client is not reading: wait for it, but not forever (a paused request has no body timeout).
      controller.pause();
      clearTimeout(this.stallTimer);
      this.stallTimer = setTimeout(
        () => stream.destroy(new Error('client stopped reading')),
        this.options.stallTimeoutMs,
      );
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
    clearTimeout(this.stallTimer);
    if (this.stream) {
      // Our headers are out: all we can do is cut the response short, as the backend did.
      this.stream.destroy(error);
      return;
    }
    if (this.reply.sent) return;
    if (this.clientGone || this.reply.raw.destroyed) {
      // Nobody to answer, and not the backend's fault (e.g. the client aborted its upload).
      this.request.log.debug({ code: rootCode(error) }, 'client went away during an upstream request');
      return;
    }
    if (!this.started && this.retry(error)) return;
    // The backend's headers must not describe our problem response.
    for (const name of this.copiedHeaders) this.reply.removeHeader(name);
    if (!this.started || classifyUpstreamError(error).kind === 'timeout') {
      this.options.failures.unanswered(this.reply, error);
    } else {
      this.options.failures.invalidResponse(this.reply, rootCode(error));
    }
  }
}

/**
 * The path as the backend gets it: origin-form under /api/, with no dot segments (plain or
 * percent-encoded) that a normalising hop between us and the backend could resolve to something
 * outside /api (such as /metrics). Undefined when the path does not qualify.
 */
function upstreamPath(url: string): string | undefined {
  if (!url.startsWith('/api/')) return undefined;
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  return decoded.split(/[/\\]/).some((segment) => segment === '..' || segment === '.') ? undefined : url;
}

export function forward(pool: Pool, request: FastifyRequest, reply: FastifyReply, options: ForwardOptions): void {
  const path = upstreamPath(request.url);
  if (path === undefined) {
    sendProblem(reply, 400, 'the request path must be an /api/ path without dot segments', 'bad-path');
    return;
  }
  if (reply.raw.destroyed) return; // the client is already gone
  const body = request.body instanceof Readable ? request.body : null;
  let current: ProxiedResponse;
  const send = (attempt: number) => {
    current = new ProxiedResponse(request, reply, options, (error) => {
      if (!retryable(request.method, attempt, error)) return false;
      send(attempt + 1);
      return true;
    });
    pool.dispatch(
      { path, method: request.method as Dispatcher.HttpMethod, headers: upstreamRequestHeaders(request), body },
      current,
    );
  };
  // After a finished response this is a no-op; before, it stops the upstream request.
  reply.raw.once('close', () => current.clientClosed());
  send(0);
}
