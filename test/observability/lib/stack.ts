import { getFreePort, type RedisServer, type Service, serviceScript, startService } from '@tasktier/testkit';

/** The production bundles of both services over a real Redis, on free loopback ports. */
export interface Stack {
  frontendUrl: string;
  backendUrl: string;
  backendMetricsPort: number;
  frontendMetricsPort: number;
  backend: Service;
  frontend: Service;
  stop(): Promise<void>;
}

export async function startStack(
  redis: RedisServer,
  env: { backend?: Record<string, string>; frontend?: Record<string, string>; both?: Record<string, string> } = {},
): Promise<Stack> {
  const [backendPort, frontendPort, backendMetricsPort, frontendMetricsPort] = [
    await getFreePort(),
    await getFreePort(),
    await getFreePort(),
    await getFreePort(),
  ];
  const common = { HOST: '127.0.0.1', DRAIN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '2000', ...env.both };
  const backendUrl = `http://127.0.0.1:${backendPort}`;
  const backend = await startService({
    name: 'backend',
    script: serviceScript('backend'),
    env: {
      ...common,
      PORT: String(backendPort),
      METRICS_PORT: String(backendMetricsPort),
      REDIS_URL: redis.url,
      TRUST_PROXY: 'loopback',
      RATE_LIMITS: 'off',
      ...env.backend,
    },
    readyUrl: `${backendUrl}/readyz`,
  });
  const frontendUrl = `http://127.0.0.1:${frontendPort}`;
  const frontend = await startService({
    name: 'frontend',
    script: serviceScript('frontend'),
    env: {
      ...common,
      PORT: String(frontendPort),
      METRICS_PORT: String(frontendMetricsPort),
      BACKEND_URL: backendUrl,
      ...env.frontend,
    },
    readyUrl: `${frontendUrl}/readyz`,
  });
  return {
    frontendUrl,
    backendUrl,
    backendMetricsPort,
    frontendMetricsPort,
    backend,
    frontend,
    stop: async () => {
      await frontend.stop();
      await backend.stop();
    },
  };
}

/** The JSON log lines a service wrote so far. */
export function logLines(service: Service): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const line of service.output().split('\n')) {
    const start = line.indexOf('{');
    if (start === -1) continue;
    try {
      lines.push(JSON.parse(line.slice(start)) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  }
  return lines;
}
