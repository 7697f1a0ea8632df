import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root (this file is packages/testkit/src/paths.ts). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
