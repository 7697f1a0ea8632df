import fp from 'fastify-plugin';
import { listTag } from './list-tag.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `errors`: this route's successful requests are logged at debug level only, because another
     * service writes the access line for them (the frontend's /api proxy: the backend logs every
     * API request under the same request id). Responses of 500 and above are always logged.
     */
    accessLog?: 'all' | 'errors';
  }
}

/**
 * One JSON log line per request, written when the response is done, with the request id that is
 * also echoed to the client. The line has the route template, never the URL: a URL holds the
 * list id, which is the list's credential; `list` is a tag of it that cannot be turned back
 * (list-tag.ts) (Fastify's own two lines per request are turned off by the service).
 * Callback-style hooks: they run on every request, and an async hook costs a promise and a
 * microtask turn each.
 */
export default fp(
  (app, _options, done) => {
    app.addHook('onRequest', (request, reply, next) => {
      reply.header('x-request-id', request.id);
      next();
    });
    app.addHook('onResponse', (request, reply, next) => {
      const line = {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        list: listTag(request.url),
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
      };
      if (request.routeOptions.config.accessLog === 'errors' && reply.statusCode < 500) {
        request.log.debug(line, 'request');
      } else {
        request.log.info(line, 'request');
      }
      next();
    });
    done();
  },
  { name: 'request-log' },
);
