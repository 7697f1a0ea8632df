import compress from '@fastify/compress';
import { BODY_LIMIT_BYTES } from '@tasktier/contract';
import { sendProblem } from '@tasktier/service-kit';
import type { FastifyInstance } from 'fastify';
import { Pool } from 'undici';
import { forward } from '../lib/forward.ts';
import { poolOptions, type UpstreamOptions } from '../lib/upstream.ts';

/**
 * /api/* to the backend over a keep-alive pool (lib/forward.ts), bodies passed through as they
 * are; JSON answers compressed for clients that accept it. (This replaced @fastify/reply-from,
 * which cost about a third of the frontend's CPU per request.)
 */

/** Smaller responses are not worth compressing (gzip's own overhead is ~20 bytes, plus the CPU). */
const COMPRESS_THRESHOLD = 1024;
const API_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export default async function apiProxy(app: FastifyInstance, options: UpstreamOptions) {
  const pool = new Pool(options.backendUrl, poolOptions(options, options.timeoutMs));
  app.addHook('onClose', async () => {
    await pool.close();
  });

  await app.register(async (api) => {
    // Bodies pass through as the raw request stream: no parsing, no buffering.
    api.removeAllContentTypeParsers();
    api.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    // Request bodies pass through as sent, compressed or not: inflating them here would forward
    // plain bytes labelled with the client's Content-Encoding and Content-Length.
    await api.register(compress, {
      encodings: ['br', 'gzip'],
      threshold: COMPRESS_THRESHOLD,
      globalDecompression: false,
    });
    const forwardOptions = { stallTimeoutMs: options.timeoutMs };
    api.route({
      method: API_METHODS,
      url: '/api/*',
      // The backend writes the access log line of every API request (same request id).
      config: { accessLog: 'errors' },
      handler: (request, reply) => {
        // The API's own limit, checked before anything is sent on (the body is not parsed here,
        // so Fastify's bodyLimit does not apply); the backend enforces it on chunked bodies.
        if (Number(request.headers['content-length']) > BODY_LIMIT_BYTES) {
          return sendProblem(reply, 413, `the request body is larger than ${BODY_LIMIT_BYTES} bytes`, 'body-too-large');
        }
        forward(pool, request, reply, forwardOptions);
      },
    });
  });
}
