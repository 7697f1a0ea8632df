import type { IncomingHttpHeaders } from 'node:http';
import { outgoingTraceHeaders } from '@tasktier/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Which headers go to the backend and which of its answer come back. */

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
  // Trace context is this hop's: the caller's traceparent names the caller's span, not ours.
  'traceparent',
  'tracestate',
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

type AnyRequest = Pick<FastifyRequest, 'headers' | 'ip' | 'protocol' | 'host' | 'id' | 'raw'>;

/**
 * The headers the backend gets: the client's, minus hop-by-hop ones, plus our forwarding headers.
 * X-Forwarded-For is one entry, the client address we determined (through our own TRUST_PROXY):
 * the backend keys its rate limits on it and trusts us, so passing on any part of the chain as
 * the client sent it would let a client pick its own address.
 */
export function upstreamRequestHeaders(request: AnyRequest): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  const headers = request.headers;
  for (const name in headers) {
    if (!NOT_FORWARDED_UP.has(name)) out[name] = headers[name];
  }
  for (const name of listedInConnection(headers.connection)) delete out[name];
  out['x-forwarded-for'] = request.ip;
  out['x-forwarded-proto'] = request.protocol;
  out['x-forwarded-host'] = request.host;
  out['x-request-id'] = request.id;
  // With tracing off, our traceparent names this request's span of the logs; with tracing on,
  // undici's instrumentation adds the proxy call's own span instead.
  const trace = outgoingTraceHeaders(request.raw);
  if (trace) {
    out.traceparent = trace.traceparent;
    if (trace.tracestate !== undefined) out.tracestate = trace.tracestate;
  }
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
