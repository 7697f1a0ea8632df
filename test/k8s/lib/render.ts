import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '@tasktier/testkit';
import { parse, parseAllDocuments } from 'yaml';
import type { K8sObject } from './types.ts';

const execFileAsync = promisify(execFile);

/** deploy/k8s/ in the repository. */
export const k8sDir = join(repoRoot, 'deploy/k8s');

/** The kustomizations a user applies (base is rendered too: overlays build on it). */
export const TARGETS = ['base', 'overlays/dev', 'overlays/prod'] as const;
export type Target = (typeof TARGETS)[number];

/** Component folders under deploy/k8s/components (each is a `kind: Component` kustomization). */
export function listComponents(): string[] {
  return readdirSync(join(k8sDir, 'components'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(k8sDir, 'components', entry.name, 'kustomization.yaml')))
    .map((entry) => entry.name)
    .sort();
}

/** Components a target already includes in its own kustomization.yaml (by folder name). */
export function includedComponents(target: string): string[] {
  const kustomization: unknown = parse(readFileSync(join(k8sDir, target, 'kustomization.yaml'), 'utf8'));
  const components =
    kustomization && typeof kustomization === 'object' && 'components' in kustomization
      ? (kustomization as { components?: unknown }).components
      : undefined;
  if (!Array.isArray(components)) return [];
  return components.filter((path): path is string => typeof path === 'string').map((path) => path.split('/').at(-1)!);
}

export interface Combination {
  target: Target;
  components: string[];
  /** target+component+component, for test names. */
  id: string;
}

/**
 * Every target with every subset of `components`, except subsets with a component the target
 * already includes (prod includes redis-persistence: adding it twice is not a combination a user
 * would write).
 */
export function allCombinations(components: readonly string[] = listComponents()): Combination[] {
  const result: Combination[] = [];
  for (const target of TARGETS) {
    const already = new Set(includedComponents(target));
    const available = components.filter((component) => !already.has(component));
    for (let mask = 0; mask < 1 << available.length; mask++) {
      const chosen = available.filter((_, index) => mask & (1 << index));
      result.push({ target, components: chosen, id: [target, ...chosen].join('+') });
    }
  }
  return result;
}

/** Scratch copies not disposed yet: removed when the process exits (a failed hook, an interrupt). */
const liveTrees = new Set<string>();
process.once('exit', () => {
  for (const root of liveTrees) rmSync(root, { recursive: true, force: true });
});

/**
 * A scratch copy of deploy/k8s (kustomize refuses absolute paths to other kustomizations, so the
 * combinations are written next to a copy). It holds a redis.env with a random password for the
 * redis-secret-from-file component, as a user would create it; nothing is written to the repo.
 */
export class RenderTree {
  readonly root: string;
  readonly redisPassword = randomBytes(24).toString('base64url');
  private counter = 0;
  private readonly cache = new Map<string, Promise<K8sObject[]>>();

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'tasktier-k8s-'));
    liveTrees.add(this.root);
    for (const folder of ['base', 'overlays', 'components']) {
      cpSync(join(k8sDir, folder), join(this.root, folder), { recursive: true });
    }
    const secretComponent = join(this.root, 'components', 'redis-secret-from-file');
    if (existsSync(secretComponent)) {
      writeFileSync(join(secretComponent, 'redis.env'), `password=${this.redisPassword}\n`, { mode: 0o600 });
    }
  }

  /** Renders a target with components through `kubectl kustomize`, parsed into objects. Cached. */
  render(target: string, components: readonly string[] = []): Promise<K8sObject[]> {
    const key = [target, ...components].join('+');
    let rendered = this.cache.get(key);
    if (!rendered) {
      rendered = this.renderUncached(target, components);
      this.cache.set(key, rendered);
    }
    return rendered;
  }

  private async renderUncached(target: string, components: readonly string[]): Promise<K8sObject[]> {
    let dir = join(this.root, target);
    if (components.length > 0) {
      dir = join(this.root, '_combinations', String(this.counter++));
      mkdirSync(dir, { recursive: true });
      const lines = [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ../../${target}`,
        'components:',
        ...components.map((component) => `  - ../../components/${component}`),
      ];
      writeFileSync(join(dir, 'kustomization.yaml'), `${lines.join('\n')}\n`);
    }
    return parseManifests(await kustomize(dir));
  }

  dispose(): void {
    liveTrees.delete(this.root);
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** `kubectl kustomize DIR`; a failure carries kubectl's own message. */
export async function kustomize(dir: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync('kubectl', ['kustomize', dir], { maxBuffer: 32 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const detail =
      error && typeof error === 'object' && 'stderr' in error ? String((error as { stderr: unknown }).stderr) : '';
    const reason = error instanceof Error ? error.message : String(error);
    if (/ENOENT/.test(reason) && !detail)
      throw new Error('kubectl is not installed (the suite renders with `kubectl kustomize`)');
    throw new Error(`kubectl kustomize ${dir} failed: ${detail.trim() || reason}`);
  }
}

/** Parses a multi-document YAML stream into Kubernetes objects (throws on a YAML error). */
export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) throw new Error(`invalid YAML: ${document.errors[0]!.message}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    if (!isK8sObject(value)) throw new Error(`not a Kubernetes object: ${JSON.stringify(value).slice(0, 200)}`);
    objects.push(value);
  }
  return objects;
}

function isK8sObject(value: unknown): value is K8sObject {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  const metadata = record.metadata as Record<string, unknown> | undefined;
  return (
    typeof record.apiVersion === 'string' &&
    typeof record.kind === 'string' &&
    !!metadata &&
    typeof metadata === 'object' &&
    typeof metadata.name === 'string'
  );
}

/** Runs `fn` over `items` with at most `limit` at a time (the machine has 2 cores). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  });
  await Promise.all(workers);
  return results;
}
