import { PassThrough } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ListIdParams, Problem, type ReadyEvent } from '@tasktier/contract';
import { parseChangeEvent } from '../store/todo-store.ts';

export interface EventsOptions {
  heartbeatMs: number;
  /** Milliseconds a browser should wait before reconnecting (the SSE `retry:` field). */
  retryMs?: number;
}

/**
 * GET /api/lists/:listId/events: Server-Sent Events fed by the Redis pub/sub channel of the list.
 * The first event, `ready`, carries the list's revision so a (re)connecting client knows whether
 * to refetch. Streams end when the server shuts down (after the drain) so browsers reconnect to
 * another replica, and when the Redis subscription was interrupted (events may have been missed).
 */
const events: FastifyPluginAsyncTypebox<EventsOptions> = async (app, { heartbeatMs, retryMs = 2000 }) => {
  const streams = new Set<PassThrough>();

  const heartbeat = setInterval(() => {
    for (const stream of streams) stream.write(': heartbeat\n\n');
  }, heartbeatMs);
  heartbeat.unref();

  const endAll = () => {
    for (const stream of streams) stream.end();
    streams.clear();
  };
  const stopResync = app.events.onResync(endAll);

  // preClose runs before the listener closes: open streams would otherwise hold up close().
  app.addHook('preClose', async () => {
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
        response: { 200: { type: 'string', description: 'text/event-stream' }, 404: Problem, 503: Problem },
      },
    },
    async (request, reply) => {
      const { listId } = request.params;
      const stream = new PassThrough();
      const forward = (message: string) => {
        const revision = parseChangeEvent(message)?.revision ?? '';
        stream.write(`id: ${revision}\nevent: change\ndata: ${message}\n\n`);
      };
      // Subscribe before reading the version, so no change can fall between the two.
      const unsubscribe = await app.events.subscribe(app.store.channel(listId), forward);
      let ready: ReadyEvent;
      try {
        const { version, revision } = await app.store.readList(listId);
        ready = { version, revision };
      } catch (error) {
        unsubscribe();
        throw error;
      }

      streams.add(stream);
      app.metrics.sseClients.inc();
      request.raw.once('close', () => {
        streams.delete(stream);
        unsubscribe();
        app.metrics.sseClients.dec();
        stream.end();
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
