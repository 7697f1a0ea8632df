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
  revision: string;
  /** Readiness beyond "not draining", e.g. "Redis answers". Undefined = always ready. */
  dependencyReady?: () => Promise<boolean>;
  dependencyName?: string;
}

export default fp(
  async (app, options: HealthOptions) => {
    app.decorate('lifecycle', { draining: false });

    // While draining, ask keep-alive clients to reconnect (to another replica) after this response.
    app.addHook('onSend', async (_request, reply) => {
      if (app.lifecycle.draining) reply.header('connection', 'close');
    });

    const statusReply = { response: { 200: HealthStatus, 503: HealthStatus } };

    app.get(
      '/healthz',
      { schema: { tags: ['health'], summary: 'Liveness: the process answers', ...statusReply } },
      () => ({
        status: 'ok',
      }),
    );

    app.get(
      '/readyz',
      { schema: { tags: ['health'], summary: 'Readiness: not draining and dependencies answer', ...statusReply } },
      async (_request, reply) => {
        if (app.lifecycle.draining) return reply.code(503).send({ status: 'draining' });
        if (options.dependencyReady && !(await options.dependencyReady())) {
          return reply.code(503).send({ status: `${options.dependencyName ?? 'dependency'} unavailable` });
        }
        return { status: 'ready' };
      },
    );

    const info = {
      service: options.service,
      version: options.version,
      revision: options.revision,
      node: process.version,
    };
    app.get(
      '/version',
      { schema: { tags: ['health'], summary: 'Build information', response: { 200: VersionInfo } } },
      () => info,
    );
  },
  { name: 'health' },
);
