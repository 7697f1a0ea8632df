import type { FastifyRequest } from 'fastify';

const PREFIX = /^(\/[A-Za-z0-9._~-]+)*$/;

/**
 * The public origin and path prefix of this API as the client sees it. Behind the frontend and
 * the Ingress the request arrives with X-Forwarded-Proto/Host (used by Fastify when the peer is a
 * trusted proxy) and possibly X-Forwarded-Prefix, honoured under the same trust.
 */
export function publicBase(request: FastifyRequest, trusted: (address: string) => boolean): string {
  let prefix = '';
  const header = request.headers['x-forwarded-prefix'];
  if (typeof header === 'string' && PREFIX.test(header) && trusted(request.socket.remoteAddress ?? '')) {
    prefix = header;
  }
  return `${request.protocol}://${request.host}${prefix}`;
}
export interface RouteOptions {
  /** Whether a peer address is a trusted proxy (whose X-Forwarded-* headers we believe). */
  trustedProxy: (address: string) => boolean;
}
