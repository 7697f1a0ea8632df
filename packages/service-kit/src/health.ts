import { HealthStatus, VersionInfo } from '@tasktier/contract';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    /** Set when SIGTERM arrives: readiness fails so load balancers stop sending new requests. */
    lifecycle: { draining: boolean };
  }
}

export interface HealthOptions {
  service: string;
  version: string;
  /** Readiness beyond "listening and not draining", e.g. "Redis answers". None: always ready. */
  dependencyReady?: () => Promise<boolean>;
  dependencyName?: string;
}

/** GET /healthz (liveness), /readyz (readiness), /version, and the draining state they share. */
export default fp(
  async (app, options: HealthOptions) => {
    app.decorate('lifecycle', { draining: false });

    // While draining, ask keep-alive clients to reconnect (to another replica) after this response.
    // (Callback-style hooks here and below: they run on every request.)
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (app.lifecycle.draining) reply.header('connection', 'close');
      done(null, payload);
    });

    // server.close() closes the keep-alive connections idle at that moment, but one whose response
    // was still being written would stay open until keepAliveTimeout. Close those as they finish.
    let closing = false;
    app.addHook('preClose', async () => {
      closing = true;
      app.lifecycle.draining = true;
    });
    app.addHook('onResponse', (request, _reply, done) => {
      if (closing) request.raw.socket?.end();
      done();
    });

    const statusReply = { response: { 200: HealthStatus, 503: HealthStatus } };
    app.get(
      '/healthz',
      { schema: { tags: ['health'], summary: 'Liveness: the process answers', ...statusReply } },
      async (_request, reply) => {
        reply.header('cache-control', 'no-store');
        return { status: 'ok' };
      },
    );

    app.get(
      '/readyz',
      { schema: { tags: ['health'], summary: 'Readiness: not draining and dependencies answer', ...statusReply } },
      async (_request, reply) => {
        reply.header('cache-control', 'no-store');
        if (app.lifecycle.draining) return reply.code(503).send({ status: 'draining' });
        if (options.dependencyReady && !(await options.dependencyReady())) {
          return reply.code(503).send({ status: `${options.dependencyName ?? 'dependency'} unavailable` });
        }
        return { status: 'ready' };
      },
    );

    // Public (the frontend's is reachable through the Ingress): no runtime or revision that would
    // tell an attacker which known bugs to try. Those are in <prefix>_build_info on the metrics port.
    const info = { service: options.service, version: options.version };
    app.get(
      '/version',
      { schema: { tags: ['health'], summary: 'Build information', response: { 200: VersionInfo } } },
      async (_request, reply) => {
        reply.header('cache-control', 'no-store');
        return info;
      },
    );
  },
  { name: 'health' },
);
