import { sendProblem } from '@tasktier/service-kit';
import type { FastifyError } from 'fastify';
import fp from 'fastify-plugin';
import { sendInvalidUpstreamResponse } from '../lib/upstream.ts';

/** Errors of the frontend itself (not proxied ones) as application/problem+json. */
export default fp(
  async (app) => {
    app.setNotFoundHandler((request, reply) =>
      sendProblem(reply, 404, `no route for ${request.method} ${request.url.split('?')[0]}`, 'no-route'),
    );

    app.setErrorHandler((error: FastifyError, request, reply) => {
      // The backend's response failed after its headers arrived but before ours were sent, e.g.
      // a body shorter than its Content-Length: a bad gateway, not our own error.
      if (error.code?.startsWith('UND_ERR_')) return sendInvalidUpstreamResponse(reply, error.code);
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) return sendProblem(reply, status, error.message);
      request.log.error({ err: error }, 'unhandled error');
      return sendProblem(reply, 500, 'an unexpected error occurred; it has been logged with this request id');
    });
  },
  { name: 'problems' },
);
