import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@tasktier/testkit';

/** The runtime settings the images carry: environment the final stage of services/Dockerfile sets for Node and its allocator. */
const RUNTIME_VARIABLES = ['NODE_OPTIONS', 'MALLOC_ARENA_MAX'];

/**
 * The runtime settings (NODE_OPTIONS, MALLOC_ARENA_MAX) of the images, read from the last stage of
 * services/Dockerfile, so that the benchmark runs the services as the images do (one source).
 */
export function imageRuntimeEnv(dockerfile = join(repoRoot, 'services', 'Dockerfile')): Record<string, string> {
  const text = readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n');
  const lastFrom = lines.findLastIndex((l) => /^FROM\s/i.test(l));
  const env: Record<string, string> = {};
  for (const line of lines.slice(lastFrom + 1)) {
    if (!/^ENV\s/i.test(line)) continue;
    for (const match of line.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      const [, key, raw] = match;
      if (!key || raw === undefined || !RUNTIME_VARIABLES.includes(key)) continue;
      env[key] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    }
  }
  return env;
}
