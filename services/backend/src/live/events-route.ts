import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { normalizeIP } from '@fastify/rate-limit';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ListIdParams, Problem, parseChangeEvent, type ReadyEvent } from '@tasktier/contract';
import { sendProblem, spreadRetryAfter } from '@tasktier/service-kit';
import type { FastifyReply } from 'fastify';
import { SubscribeError } from './event-hub.ts';
import type { StreamLeases } from './stream-leases.ts';

export interface EventsOptions {
  heartbeatMs: number;
  /** Open streams on this process; the next one is refused at once (503). */
  maxStreams: number;
  /** Open streams per client address across replicas (429); none when the limits are off. */
  leases?: StreamLeases;
  /** How long a SUBSCRIBE may take before the stream is refused (503). */
  subscribeTimeoutMs: number;
}

/**
 * The SSE `retry:` hint, spread over 1-5 s: after a restart ends every stream at once, the
 * browsers come back over seconds instead of in one burst.
 */
function retryHintMs(): number {
  return 1000 + Math.floor(Math.random() * 4000);
}

function refuse(reply: FastifyReply, status: 429 | 503, detail: string, slug: string) {
  reply.header('retry-after', spreadRetryAfter());
  return sendProblem(reply, status, detail, slug);
}

/**
 * Bytes a stream may hold unsent: a client that stops reading (a zero TCP window) while its list
 * is busy would otherwise grow its buffer without bound. Far above what a reading client ever
 * holds (events are ~150 bytes); such a client is cut off and reconnects when it reads again.
 */
const MAX_UNSENT_BYTES = 256 * 1024;

function send(stream: PassThrough, text: string): void {
  if (stream.writableLength > MAX_UNSENT_BYTES) stream.destroy();
  else stream.write(text);
}

/**
 * GET /api/lists/:listId/events: Server-Sent Events fed by the Redis pub/sub channel of the list.
 * The first event, `ready`, carries the list's revision so a (re)connecting client knows whether
 * to refetch. Streams end when the server shuts down (after the drain) so browsers reconnect to
 * another replica, and when the Redis subscription was interrupted (events may have been missed).
 */
const events: FastifyPluginAsyncTypebox<EventsOptions> = async (
  app,
  { heartbeatMs, maxStreams, leases, subscribeTimeoutMs },
) => {
  const streams = new Set<PassThrough>();
  /** Streams open or being set up: what the per-process cap counts. */
  let active = 0;
  let closing = false;

  const heartbeat = setInterval(() => {
    for (const stream of streams) send(stream, ': heartbeat\n\n');
    leases?.renew().catch(() => {});
  }, heartbeatMs);
  heartbeat.unref();

  const endAll = () => {
    for (const stream of streams) stream.end();
    streams.clear();
  };
  const stopResync = app.events.onResync(endAll);

  // preClose runs before the listener closes: open streams would otherwise hold up close().
  app.addHook('preClose', async () => {
    closing = true;
    clearInterval(heartbeat);
    stopResync();
    endAll();
  });

  app.get(
    '/api/lists/:listId/events',
    {
      config: { longLived: true },
      schema: {
        tags: ['events'],
        summary: 'Live changes of a list (Server-Sent Events)',
        params: ListIdParams,
        response: {
          200: { type: 'string', description: 'text/event-stream' },
          404: Problem,
          429: Problem,
          503: Problem,
        },
      },
    },
    async (request, reply) => {
      const { listId } = request.params;
      if (active >= maxStreams) {
        return refuse(
          reply,
          503,
          `this server holds its maximum of ${maxStreams} live-sync streams; reconnect in a moment`,
          'overloaded',
        );
      }
      // Every step below undoes itself when the client leaves, whenever that happens: the close
      // handler is attached before the first await, and each step registers its undo as it
      // completes; a step completing after the client left is undone at once.
      const undo: Array<() => void> = [];
      const left = new AbortController();
      const cleanUp = () => {
        left.abort();
        for (let step = undo.pop(); step; step = undo.pop()) step();
      };
      reply.raw.once('close', cleanUp);
      const step = (undoIt: () => void) => {
        undo.push(undoIt);
        if (left.signal.aborted) cleanUp();
      };
      active++;
      step(() => active--);

      if (leases) {
        const address = normalizeIP(request.ip);
        const lease = randomBytes(9).toString('base64url');
        // Never throws: without Redis, this replica counts the address's streams itself.
        const admitted = await leases.admit(address, lease);
        if (admitted) step(() => leases.release(address, lease));
        if (!admitted) {
          return refuse(
            reply,
            429,
            `too many live-sync streams from your address (at most ${leases.perClient}); close some tabs or try again later`,
            'rate-limited',
          );
        }
      }

      const stream = new PassThrough();
      step(() => stream.end());
      const retryMs = retryHintMs();
      const forward = (message: string) => {
        const revision = parseChangeEvent(message)?.revision ?? '';
        send(stream, `id: ${revision}\nevent: change\ndata: ${message}\n\n`);
      };
      // Subscribe before reading the version, so no change can fall between the two.
      const epoch = app.events.epoch;
      let unsubscribe: () => void;
      try {
        unsubscribe = await app.events.subscribe(app.store.channel(listId), forward, {
          timeoutMs: subscribeTimeoutMs,
          signal: left.signal,
        });
      } catch (error) {
        if (!(error instanceof SubscribeError)) throw error;
        if (!left.signal.aborted) request.log.warn({ err: { message: error.message } }, 'event stream not started');
        return refuse(reply, 503, 'live sync is unavailable right now; reconnect in a moment', 'storage-unavailable');
      }
      step(unsubscribe);
      let ready: ReadyEvent;
      try {
        const { version, revision } = await app.store.readList(listId);
        ready = { version, revision };
      } catch (error) {
        unsubscribe();
        throw error;
      }

      // Set up while the server began to close: endAll() has run, so this one would hold up close().
      if (closing) return refuse(reply, 503, 'this server is shutting down; reconnect in a moment', 'overloaded');
      // The subscription was interrupted meanwhile: events may be missing, and the resync that ended
      // every open stream did not see this one. The client reconnects and reads the revision anew.
      if (app.events.epoch !== epoch) {
        return refuse(reply, 503, 'live sync was interrupted; reconnect in a moment', 'storage-unavailable');
      }
      streams.add(stream);
      app.metrics.sseClients.inc();
      step(() => {
        streams.delete(stream);
        app.metrics.sseClients.dec();
      });
      stream.write(`retry: ${retryMs}\nevent: ready\ndata: ${JSON.stringify(ready)}\n\n`);
      return (
        reply
          .header('content-type', 'text/event-stream; charset=utf-8')
          .header('cache-control', 'no-cache, no-transform')
          .header('x-accel-buffering', 'no')
          // The type provider knows the documented body (a string); a stream of it is what we send.
          .send(stream as unknown as string)
      );
    },
  );
};

export default events;
