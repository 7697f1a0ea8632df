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
