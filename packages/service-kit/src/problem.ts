import { STATUS_CODES } from 'node:http';
import { PROBLEM_CONTENT_TYPE, type Problem } from '@tasktier/contract';
import type { FastifyReply, RawServerBase, RouteGenericInterface } from 'fastify';

/** Sends an RFC 9457 problem. `slug` names our own problem types; generic ones are about:blank. */
export function sendProblem(
  reply: FastifyReply<RouteGenericInterface, RawServerBase>,
  status: number,
  detail: string,
  slug?: string,
  title?: string,
) {
  const problem: Problem = {
    type: slug ? `urn:tasktier:problem:${slug}` : 'about:blank',
    title: title ?? STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    instance: reply.request.url.split('?')[0],
  };
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .type(`${PROBLEM_CONTENT_TYPE}; charset=utf-8`)
    .send(JSON.stringify(problem));
}

/**
 * Retry-After (seconds) for a refusal that many clients meet at once, such as a full stream cap:
 * drawn between 2 and 5 s, so that they come back spread out rather than together.
 */
export function spreadRetryAfter(): string {
  return String(2 + Math.floor(Math.random() * 4));
}
