import type { IncomingHttpHeaders } from 'node:http';
import { sendProblem } from '@tasktier/service-kit';
import type { FastifyReply, FastifyRequest, RawServerBase, RouteGenericInterface } from 'fastify';

/** What both proxies (API calls and event streams) share: header rules and error mapping. */

export interface UpstreamOptions {
  backendUrl: string;
  timeoutMs: number;
  connectTimeoutMs: number;
  connections: number;
}

// Hop-by-hop headers (RFC 9110 7.6.1) are about one connection and must not be forwarded, either way.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];
const HOP_BY_HOP_DOWN = new Set(HOP_BY_HOP);
// Upward also: `host` is the backend's (undici sets it), `expect` undici refuses (Node already
// answered 100-continue), and the forwarding headers are rebuilt from what Fastify trusts
// (TRUST_PROXY), never passed as sent.
const NOT_FORWARDED_UP = new Set([
  ...HOP_BY_HOP,
  'host',
  'expect',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-prefix',
  'x-forwarded-port',
  'x-request-id',
]);

/** The header names a Connection header lists: hop-by-hop too (RFC 9110 7.6.1). */
function listedInConnection(value: string | string[] | undefined): Set<string> {
  if (typeof value !== 'string') return new Set();
  return new Set(
    value
      .toLowerCase()
      .split(',')
      .map((name) => name.trim()),
  );
}

type AnyRequest = Pick<FastifyRequest, 'headers' | 'ip' | 'protocol' | 'host' | 'id'>;

/**
 * X-Forwarded-For for the backend: one entry, the client address we determined (through our own
 * TRUST_PROXY). The backend keys its rate limits on it and trusts us, so passing on any part of
 * the chain as the client sent it would let a client pick its own address.
 */
function forwardedFor(request: AnyRequest): string {
  return request.ip;
}

/** The headers the backend gets: the client's, minus hop-by-hop ones, plus our forwarding headers. */
export function upstreamRequestHeaders(request: AnyRequest): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  const headers = request.headers;
  for (const name in headers) {
    if (!NOT_FORWARDED_UP.has(name)) out[name] = headers[name];
  }
  for (const name of listedInConnection(headers.connection)) delete out[name];
  out['x-forwarded-for'] = forwardedFor(request);
  out['x-forwarded-proto'] = request.protocol;
  out['x-forwarded-host'] = request.host;
  out['x-request-id'] = request.id;
  return out;
}

/** Copies the backend's response headers to the reply, minus hop-by-hop ones; returns the names copied. */
export function copyResponseHeaders(reply: FastifyReply, headers: IncomingHttpHeaders): string[] {
  const listed = listedInConnection(headers.connection);
  const copied: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP_DOWN.has(name) || listed.has(name)) continue;
    reply.header(name, value);
    copied.push(name);
  }
  return copied;
}

interface ErrorWithCause {
  code?: string;
  statusCode?: number;
  cause?: unknown;
  errors?: unknown[];
}

/** The network error code behind wrapped errors (and Node's AggregateError for dual-stack connects). */
export function rootCode(error: unknown): string | undefined {
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
  return { kind: 'other', status: 502, detail: 'the backend could not be reached' };
}

/** Any Fastify reply, whatever its server type. */
type AnyReply = FastifyReply<RouteGenericInterface, RawServerBase>;

/** The backend could not be asked or did not answer: 502 or 504 problem+json, counted and logged once. */
export function sendUpstreamProblem(reply: AnyReply, error: unknown): void {
  const { kind, status, detail } = classifyUpstreamError(error);
  reply.server.metrics.upstreamErrors.inc({ kind });
  reply.request.log.warn({ kind, code: rootCode(error) }, 'upstream request failed');
  reply.header('retry-after', '1');
  sendProblem(reply, status, detail, status === 504 ? 'upstream-timeout' : 'upstream-unavailable');
}

/**
 * The backend's response broke off after its headers arrived but before ours went out: a bad
 * gateway. (The caller has removed the backend's headers from the reply.)
 */
export function sendInvalidUpstreamResponse(reply: AnyReply, code: string | undefined): void {
  reply.server.metrics.upstreamErrors.inc({ kind: 'other' });
  reply.request.log.warn({ code }, 'invalid response from the backend');
  sendProblem(reply, 502, `the backend sent an invalid response (${code ?? 'unknown error'})`, 'upstream-invalid');
}

/** undici pool settings shared by both proxies; `bodyTimeout` 0 for event streams. */
export function poolOptions(options: UpstreamOptions, bodyTimeout: number, connections = options.connections) {
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
    // Verify the backend's certificate if BACKEND_URL is https.
    connect: { timeout: options.connectTimeoutMs, rejectUnauthorized: true },
  };
}
