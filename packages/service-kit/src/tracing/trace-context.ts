import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { randomHex } from '../request-id.ts';

/**
 * W3C Trace Context (traceparent) for the logs when tracing is off: every request gets a trace id
 * (the caller's, from its `traceparent`, or a fresh one) and a span id of its own, written on each
 * of its log lines and passed on by the frontend's proxy, so one request can be followed through
 * both services' logs without any tracing backend. No SDK and no span objects: a regular
 * expression and 24 random bytes from the request-id pool per request.
 */

/** version 00: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>` (later versions may append fields). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

export interface TraceIds {
  traceId: string;
  spanId: string;
  /** The caller's trace flags (`01` = sampled), kept as they came; `00` for a trace started here. */
  flags: string;
  /** The caller's tracestate, passed on unchanged with its traceparent. */
  tracestate?: string;
}

/** The caller's trace id and flags from a valid `traceparent`, or undefined. */
export function parseTraceparent(value: string | string[] | undefined): { traceId: string; flags: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = TRACEPARENT.exec(value.trim());
  if (!match) return undefined;
  const [, version, traceId, parentId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  return { traceId, flags };
}

/** This request's ids: the caller's trace (if it sent a valid traceparent) and a new span id. */
export function traceIdsFor(headers: IncomingHttpHeaders): TraceIds {
  const parent = parseTraceparent(headers.traceparent);
  if (!parent) return { traceId: randomHex(16), spanId: randomHex(8), flags: '00' };
  const tracestate = headers.tracestate;
  return {
    traceId: parent.traceId,
    spanId: randomHex(8),
    flags: parent.flags,
    ...(typeof tracestate === 'string' ? { tracestate } : {}),
  };
}

const kTraceIds = Symbol('tasktier.traceIds');
type TracedMessage = IncomingMessage & { [kTraceIds]?: TraceIds };

/** Computes and keeps a request's ids on the raw request (read again by the proxy). */
export function assignTraceIds(raw: IncomingMessage): TraceIds {
  const ids = traceIdsFor(raw.headers);
  (raw as TracedMessage)[kTraceIds] = ids;
  return ids;
}

/** The ids `assignTraceIds` gave this raw request, if any. */
export function assignedTraceIds(raw: IncomingMessage): TraceIds | undefined {
  return (raw as TracedMessage)[kTraceIds];
}

/**
 * The traceparent (and tracestate) a proxy sends on for this request when tracing is off: the
 * caller's trace with this request's span id as the parent. Undefined with tracing on (the
 * request has no ids of ours: the undici instrumentation injects the proxy call's span).
 */
export function outgoingTraceHeaders(raw: IncomingMessage): { traceparent: string; tracestate?: string } | undefined {
  const ids = assignedTraceIds(raw);
  if (!ids) return undefined;
  const traceparent = `00-${ids.traceId}-${ids.spanId}-${ids.flags}`;
  return ids.tracestate === undefined ? { traceparent } : { traceparent, tracestate: ids.tracestate };
}
