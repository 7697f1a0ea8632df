import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getFreePort, type Proc, repoRoot, startProcess } from '@tasktier/testkit';
import { parse } from 'yaml';

interface Container {
  name: string;
  args?: string[];
}

/** The arguments of the redis_exporter sidecar as the monitoring component deploys it. */
export function sidecarArgs(): string[] {
  const file = join(repoRoot, 'deploy/k8s/components/monitoring/redis-exporter.yaml');
  const patch = parse(readFileSync(file, 'utf8')) as Array<{ op: string; value: Container }>;
  const sidecar = patch.map((operation) => operation.value).find((container) => container?.name === 'redis-exporter');
  if (!sidecar) throw new Error(`no redis-exporter container in ${file}`);
  return sidecar.args ?? [];
}

export interface RedisExporter {
  url: string;
  proc: Proc;
  stop(): Promise<number | null>;
}

/**
 * Debian's real redis_exporter (prometheus-redis-exporter) with the sidecar's arguments, except
 * the address of Redis and of its own listener (free loopback ports here). The login comes in
 * REDIS_USER and REDIS_PASSWORD, as the sidecar gets it from the Secret redis-exporter-auth.
 */
export async function startRedisExporter(
  redisPort: number,
  login?: { username: string; password: string },
): Promise<RedisExporter> {
  const port = await getFreePort();
  const args = sidecarArgs()
    .filter((arg) => !/^--?(redis\.addr|web\.listen-address)=/.test(arg))
    .concat([`--redis.addr=redis://127.0.0.1:${redisPort}`, `--web.listen-address=127.0.0.1:${port}`]);
  const url = `http://127.0.0.1:${port}`;
  const proc = await startProcess({
    name: 'redis_exporter',
    command: 'prometheus-redis-exporter',
    args,
    env: login === undefined ? {} : { REDIS_USER: login.username, REDIS_PASSWORD: login.password },
    ready: { url: `${url}/health` },
  });
  return { url, proc, stop: () => proc.stop() };
}
