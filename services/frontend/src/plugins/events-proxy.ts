import type { Readable } from 'node:stream';
import { sendProblem } from '@tasktier/service-kit';
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

const EVENTS_ROUTE = '/api/lists/:listId/events';

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

  /** Streams open or being set up: each holds a pool connection, and the pool has eventStreams. */
  let active = 0;
  app.get(EVENTS_ROUTE, { config: { longLived: true } }, (request, reply) => {
    if (active >= options.eventStreams) {
      // Refused at once: waiting for a pool connection would leave the browser without an answer
      // for as long as other streams stay open. Retry-After spread so refused browsers come back apart.
      reply.header('retry-after', String(2 + Math.floor(Math.random() * 4)));
      return sendProblem(
        reply,
        503,
        `this server holds its maximum of ${options.eventStreams} live-sync streams; reconnect in a moment`,
        'overloaded',
      );
    }
    active++;
    reply.raw.once('close', () => {
      active--;
    });
    forward(pool, request, reply, forwardOptions);
  });

  app.addHook('preClose', async () => {
    for (const end of open.values()) end();
  });
  app.addHook('onClose', async () => {
    await pool.destroy();
  });
}
