import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root (this file is packages/testkit/src/paths.ts). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export type Tier = 'backend' | 'frontend';

/** A service's production bundle (`npm run build`), as `npm start` and the images run it. */
export function serviceScriptPath(tier: Tier): string {
  return join(repoRoot, 'services', tier, 'dist', 'server.js');
}

/** The bundle's path; throws, saying how to make it, when it is not built. */
export function serviceScript(tier: Tier): string {
  const script = serviceScriptPath(tier);
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
  return script;
}

/** The full path of an executable on PATH, or undefined. */
export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
