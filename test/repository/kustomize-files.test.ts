import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { repoRoot } from '@tasktier/testkit';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// Every file a kustomization under deploy/k8s reads is in git. A file on a developer's disk that git
// ignores (the repository ignores deploy/**/*.env, the secrets' format) renders fine there and
// breaks every fresh clone, CI's included.

const tracked = new Set(
  execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean),
);
/** Files a user makes and git must never hold: the secrets a component reads from the user's disk. */
const USER_SECRETS = new Set(['deploy/k8s/components/redis-secret-from-file/redis.env']);
const kustomizations = [...tracked].filter(
  (path) => path.startsWith('deploy/k8s/') && path.endsWith('/kustomization.yaml'),
);

interface Generator {
  envs?: string[];
  files?: string[];
}
interface Kustomization {
  resources?: string[];
  components?: string[];
  patches?: Array<{ path?: string }>;
  configMapGenerator?: Generator[];
  secretGenerator?: Generator[];
}

/** The local files (not folders, not URLs) a kustomization names, relative to the repository. */
function filesNamedBy(path: string): string[] {
  const k = (parse(readFileSync(join(repoRoot, path), 'utf8')) ?? {}) as Kustomization;
  const generatorFiles = [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])].flatMap((g) => [
    ...(g.envs ?? []),
    // `key=file` names the file after the `=`.
    ...(g.files ?? []).map((entry) => entry.slice(entry.indexOf('=') + 1)),
  ]);
  const named = [
    ...(k.resources ?? []),
    ...(k.components ?? []),
    ...(k.patches ?? []).flatMap((p) => (p.path ? [p.path] : [])),
    ...generatorFiles,
  ];
  return named
    .filter((entry) => !entry.includes('://'))
    .map((entry) => normalize(relative(repoRoot, join(repoRoot, dirname(path), entry))))
    .filter((file) => !existsSync(join(repoRoot, file, 'kustomization.yaml')));
}

describe('kustomize inputs', () => {
  it('finds the kustomizations', () => {
    expect(kustomizations.length).toBeGreaterThan(10);
  });

  it.each(kustomizations)('%s reads only files git holds', (path) => {
    const untracked = filesNamedBy(path).filter((file) => !tracked.has(file) && !USER_SECRETS.has(file));
    expect(untracked, `${path} names files that git ignores or lacks`).toEqual([]);
  });
});
