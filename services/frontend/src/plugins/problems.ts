import { sendProblem } from '@tasktier/service-kit';
import type { FastifyError } from 'fastify';
import fp from 'fastify-plugin';

/** Headers copied from a backend response that must not describe our problem response instead. */
const UPSTREAM_ENTITY_HEADERS = [
  'content-length',
  'content-encoding',
  'content-range',
  'etag',
  'last-modified',
  'location',
  'expires',
];

/** Errors of the frontend itself (not proxied ones) as application/problem+json. */
export default fp(
  async (app) => {
    app.setNotFoundHandler((request, reply) =>
      sendProblem(reply, 404, `no route for ${request.method} ${request.url.split('?')[0]}`, 'no-route'),
    );

    app.setErrorHandler((error: FastifyError, request, reply) => {
      // The backend's response failed after its headers arrived but before ours were sent, e.g.
      // a body shorter than its Content-Length: a bad gateway, not our own error.
      if (error.code?.startsWith('UND_ERR_')) {
        for (const name of UPSTREAM_ENTITY_HEADERS) reply.removeHeader(name);
        reply.server.metrics.upstreamErrors.inc({ kind: 'other' });
        request.log.warn({ code: error.code }, 'invalid response from the backend');
        return sendProblem(reply, 502, `the backend sent an invalid response (${error.code})`, 'upstream-invalid');
      }
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) return sendProblem(reply, status, error.message);
      request.log.error({ err: error }, 'unhandled error');
      return sendProblem(reply, 500, 'an unexpected error occurred; it has been logged with this request id');
    });
  },
  { name: 'problems' },
);
