import { sendProblem } from '@tasktier/service-kit';
import type { FastifyError } from 'fastify';
import fp from 'fastify-plugin';

/** Errors of the frontend itself as application/problem+json (lib/forward.ts answers for the backend's). */
export default fp(
  async (app) => {
    app.setNotFoundHandler((request, reply) =>
      sendProblem(reply, 404, `no route for ${request.method} ${request.url.split('?')[0]}`, 'no-route'),
    );

    app.setErrorHandler((error: FastifyError, request, reply) => {
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) return sendProblem(reply, status, error.message);
      request.log.error({ err: error }, 'unhandled error');
      return sendProblem(reply, 500, 'an unexpected error occurred; it has been logged with this request id');
    });
  },
  { name: 'problems' },
);
