import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Pool } from 'undici';
import { type ForwardOptions, forward } from '../lib/forward.ts';
import { poolOptions, type UpstreamOptions } from '../lib/upstream.ts';

/**
 * The live-sync event stream (GET /api/lists/:listId/events) through its own pool: no body
 * timeout (an idle stream is quiet between heartbeats), never compressed, each chunk passed on as
 * it arrives, and ended cleanly on shutdown so browsers reconnect to another replica.
 */
export interface EventsProxyOptions extends UpstreamOptions {
  /** Connection limit of the events pool: an open stream holds a connection for its lifetime. */
  eventStreams: number;
}

export const EVENTS_ROUTE = '/api/lists/:listId/events';

export default async function eventsProxy(app: FastifyInstance, options: EventsProxyOptions) {
  // Sized for streams, not requests: with the API pool's size, stream number 257 would wait for a
  // free connection, with no answer, for as long as the others stay open.
  const pool = new Pool(options.backendUrl, poolOptions(options, 0, options.eventStreams));
  /** Open streams and how to end each, so that shutdown can end them cleanly. */
  const open = new Map<Readable, () => void>();
  const forwardOptions: ForwardOptions = {
    stallTimeoutMs: options.timeoutMs,
    onEventStream: (stream, end) => {
      open.set(stream, end);
      app.metrics.sseStreams.inc();
      stream.once('close', () => {
        open.delete(stream);
        app.metrics.sseStreams.dec();
      });
    },
  };

  app.get(EVENTS_ROUTE, { config: { longLived: true } }, (request, reply) => {
    forward(pool, request, reply, forwardOptions);
  });

  app.addHook('preClose', async () => {
    for (const end of open.values()) end();
  });
  app.addHook('onClose', async () => {
    await pool.destroy();
  });
}
