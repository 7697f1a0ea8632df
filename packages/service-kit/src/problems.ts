import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { sendProblem } from './problem.ts';

/** A service's own errors as problems: answers the ones it knows, undefined for the rest. */
export type ErrorMapping = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => unknown;

/**
 * Every error becomes application/problem+json: an unknown route is 404 `no-route`; an error the
 * service's `mapError` does not answer keeps its 4xx status and message, anything else is a 500
 * whose detail says nothing but that it was logged (with the request id).
 */
export default fp(
  async (app, { mapError }: { mapError?: ErrorMapping }) => {
    app.setNotFoundHandler((request, reply) =>
      sendProblem(reply, 404, `no route for ${request.method} ${request.url.split('?')[0]}`, 'no-route'),
    );

    app.setErrorHandler((error: FastifyError, request, reply) => {
      const mapped = mapError?.(error, request, reply);
      if (mapped !== undefined) return mapped;
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) return sendProblem(reply, status, error.message);
      request.log.error({ err: error }, 'unhandled error');
      return sendProblem(reply, 500, 'an unexpected error occurred; it has been logged with this request id');
    });
  },
  { name: 'problems' },
);
