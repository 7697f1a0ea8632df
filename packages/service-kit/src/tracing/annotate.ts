import type { AttributeValue } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';

/**
 * Adds attributes to the request's span when tracing is on (a no-op otherwise: @fastify/otel
 * decorates requests only when it is registered). For what an operator searches traces by, e.g.
 * the list revision a write produced or a read served.
 */
export function annotateRequestSpan(request: FastifyRequest, attributes: Record<string, AttributeValue>): void {
  if (typeof request.opentelemetry !== 'function') return;
  request.opentelemetry().span?.setAttributes(attributes);
}
