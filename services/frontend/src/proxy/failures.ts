import { sendProblem } from '@tasktier/service-kit';
import type { FastifyReply } from 'fastify';
import type { ProxyMetrics } from './metrics.ts';

/** When the backend cannot be asked or breaks off: which failure it was, and the problem we answer. */

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

/** Answers the client for a backend that failed, counting each failure in `metrics`. */
export class UpstreamFailures {
  constructor(private readonly metrics: Pick<ProxyMetrics, 'upstreamErrors'>) {}

  /** The backend could not be asked or did not answer: 502 or 504 problem+json, counted and logged once. */
  unanswered(reply: FastifyReply, error: unknown): void {
    const { kind, status, detail } = classifyUpstreamError(error);
    this.metrics.upstreamErrors.inc({ kind });
    reply.request.log.warn({ kind, code: rootCode(error) }, 'upstream request failed');
    reply.header('retry-after', '1');
    sendProblem(reply, status, detail, status === 504 ? 'upstream-timeout' : 'upstream-unavailable');
  }

  /**
   * The backend's response broke off after its headers arrived but before ours went out: a bad
   * gateway. (The caller has removed the backend's headers from the reply.)
   */
  invalidResponse(reply: FastifyReply, code: string | undefined): void {
    this.metrics.upstreamErrors.inc({ kind: 'other' });
    reply.request.log.warn({ code }, 'invalid response from the backend');
    sendProblem(reply, 502, `the backend sent an invalid response (${code ?? 'unknown error'})`, 'upstream-invalid');
  }
}
