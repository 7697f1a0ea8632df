import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import replyFrom, { type FastifyReplyFromHooks } from '@fastify/reply-from';
import type { FastifyInstance } from 'fastify';
import {
  poolOptions,
  rootCode,
  sendUpstreamProblem,
  type UpstreamOptions,
  upstreamRequestHeaders,
} from '../lib/upstream.ts';

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

type Hooks = Required<FastifyReplyFromHooks>;

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

const rewriteHeaders: Hooks['rewriteHeaders'] = (headers) => {
  const out: IncomingHttpHeaders = { ...headers };
  for (const name of HOP_BY_HOP) delete out[name];
  return out;
};

/** One quiet retry when the pooled connection the backend had just closed fails (GET only). */
const retryDelay: Hooks['retryDelay'] = ({ err, attempt }) => {
  if (attempt > 0 || !err) return null;
  const code = rootCode(err);
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' ? 1 : null;
};

/** Open event streams, so that shutdown can end them cleanly. */
interface OpenStream {
  upstream: Readable;
  downstream: PassThrough;
}

export default async function eventsProxy(app: FastifyInstance, options: EventsProxyOptions) {
  const streams = new Set<OpenStream>();
  await app.register(async (events) => {
    await events.register(replyFrom, {
      base: options.backendUrl,
      // Sized for streams, not requests: with the API pool's size, stream number 257 would wait
      // for a free connection, with no answer, for as long as the others stay open.
      undici: poolOptions(options, 0, options.eventStreams),
      disableRequestLogging: true,
    });
    const replyOptions: FastifyReplyFromHooks = {
      rewriteRequestHeaders: (request) => upstreamRequestHeaders(request),
      rewriteHeaders,
      retryDelay,
      onError: (reply, { error }) => sendUpstreamProblem(reply, error),
      onResponse: (_request, reply, res) => {
        const upstream = res.stream as Readable;
        const contentType = String(reply.getHeader('content-type') ?? '');
        if (reply.statusCode !== 200 || !contentType.startsWith('text/event-stream')) {
          return reply.send(upstream);
        }
        // A pass-through we can end ourselves; each upstream chunk is written as it arrives.
        const downstream = new PassThrough();
        const stream = { upstream, downstream };
        streams.add(stream);
        app.metrics.sseStreams.inc();
        upstream.on('error', (error) => downstream.destroy(error));
        downstream.on('close', () => {
          streams.delete(stream);
          app.metrics.sseStreams.dec();
          upstream.destroy();
        });
        upstream.pipe(downstream);
        reply.header('x-accel-buffering', 'no').header('cache-control', 'no-cache, no-transform');
        return reply.send(downstream);
      },
    };
    events.get(EVENTS_ROUTE, { config: { longLived: true } }, (_request, reply) => reply.from(undefined, replyOptions));
  });

  app.addHook('preClose', async () => {
    for (const { upstream, downstream } of streams) {
      upstream.unpipe(downstream);
      downstream.end();
    }
  });
}
