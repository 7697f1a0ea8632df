import { ConfigError } from '../config.ts';

type Env = Record<string, string | undefined>;

/** Whether the standard variables turn tracing on: an OTLP endpoint named, or OTEL_TRACES_EXPORTER=otlp. */
export function tracingRequested(env: Env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter === 'none') return false;
  if (exporter !== undefined && exporter !== '' && exporter !== 'otlp') {
    throw new ConfigError('invalid configuration: OTEL_TRACES_EXPORTER must be otlp or none');
  }
  return exporter === 'otlp' || Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}
