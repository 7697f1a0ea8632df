import type { FastifyInstance } from 'fastify';

/**
 * Closes the app: stop accepting, let in-flight requests finish, run onClose hooks. After
 * `timeoutMs` the remaining connections are cut, so shutdown is bounded even when a client left
 * a connection half-open (seen with aborted event streams on Node 20).
 */
export async function closeWithin(app: FastifyInstance, timeoutMs: number): Promise<void> {
  const timer = setTimeout(() => {
    app.log.warn({ timeoutMs }, 'connections still open at the shutdown timeout; closing them');
    app.server.closeAllConnections();
  }, timeoutMs);
  timer.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
}
