import type { Tracing } from '@tasktier/service-kit';
import { Redis } from 'ioredis';

/**
 * A span per Redis command (and per script: EVALSHA) inside a traced request. The maintained
 * ioredis instrumentation patches the module when it is required, which never happens in our
 * bundle; so its patch is applied here to the bundled Redis class itself (Cluster nodes are
 * instances of it too). Spans name the command only: keys hold list ids and arguments hold todo
 * titles, neither of which may leave the service.
 */
export async function traceRedisCommands(tracing: Tracing | undefined): Promise<void> {
  if (!tracing) return;
  // Loaded only with tracing on (like the SDK itself).
  const { IORedisInstrumentation } = await import('@opentelemetry/instrumentation-ioredis');
  // Not enabled: enabling would install require hooks, which have nothing to find in a bundle.
  const instrumentation = new IORedisInstrumentation({
    enabled: false,
    requireParentSpan: true,
    dbStatementSerializer: (command) => command,
  });
  tracing.adopt(instrumentation);
  for (const definition of instrumentation.getModuleDefinitions()) definition.patch?.(Redis);
}
