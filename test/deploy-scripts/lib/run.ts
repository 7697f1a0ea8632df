import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '@tasktier/testkit';

/**
 * Runs a deploy script (the real executable) with kubectl replaced by the stand-in in
 * kubectl-stand-in.mjs (see there: it records calls and answers from fixtures; no API server can
 * run here), or with no kubectl at all, or with the real kubectl and a kubeconfig that points to
 * a cluster nobody runs.
 */

export const scriptsDir = join(repoRoot, 'deploy/scripts');
const standIn = fileURLToPath(new URL('./kubectl-stand-in.mjs', import.meta.url));
const REAL_KUBECTL = ['/usr/local/bin/kubectl', '/usr/bin/kubectl'].find((path) => existsSync(path)) ?? 'kubectl';

export interface Rule {
  /** A regular expression over the space-joined arguments (the scripts put --namespace last). */
  match: string;
  json?: unknown;
  stdout?: string;
  stderr?: string;
  exit?: number;
  /** Answer only this many times (later rules answer after that): state that changes between calls. */
  times?: number;
  /** Run the real kubectl (for `kubectl kustomize`, which needs no cluster). */
  real?: boolean;
}

export type Kubectl = { kind: 'stand-in'; rules: Rule[] } | { kind: 'none' } | { kind: 'unreachable-cluster' };

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** kubectl calls, each its argument list (stand-in only). */
  calls: string[][];
}

/** Tools the scripts need besides kubectl (bash for the launcher, node for tsx). */
function toolsDir(root: string): string {
  const bin = join(root, 'tools');
  mkdirSync(bin);
  for (const tool of ['bash', 'dirname', 'env']) {
    const path = ['/usr/bin', '/bin'].map((dir) => join(dir, tool)).find((candidate) => existsSync(candidate));
    if (path) symlinkSync(path, join(bin, tool));
  }
  symlinkSync(process.execPath, join(bin, 'node'));
  return bin;
}

export async function runScript(
  script: 'rollout' | 'blue-green' | 'generate-helm-chart',
  args: string[],
  kubectl: Kubectl,
): Promise<Run> {
  const root = mkdtempSync(join(tmpdir(), 'tasktier-scripts-'));
  try {
    const tools = toolsDir(root);
    const env: Record<string, string> = { HOME: root, LANG: 'C.UTF-8' };
    const log = join(root, 'calls.jsonl');
    writeFileSync(log, '');
    if (kubectl.kind === 'stand-in') {
      const bin = join(root, 'kubectl-bin');
      mkdirSync(bin);
      const fixture = join(root, 'fixture.json');
      writeFileSync(fixture, JSON.stringify(kubectl.rules));
      writeFileSync(join(bin, 'kubectl'), `#!/bin/sh\nexec "${process.execPath}" "${standIn}" "$@"\n`);
      chmodSync(join(bin, 'kubectl'), 0o755);
      Object.assign(env, {
        PATH: `${bin}:${tools}`,
        KUBECTL_STAND_IN_FIXTURE: fixture,
        KUBECTL_STAND_IN_LOG: log,
        KUBECTL_STAND_IN_REAL: REAL_KUBECTL,
      });
    } else if (kubectl.kind === 'none') {
      env.PATH = tools;
    } else {
      // The real kubectl, configured for an API server on a port where nothing listens.
      const bin = join(root, 'kubectl-bin');
      mkdirSync(bin);
      symlinkSync(REAL_KUBECTL, join(bin, 'kubectl'));
      const kubeconfig = join(root, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters: [{name: gone, cluster: {server: "https://127.0.0.1:9"}}]',
          'users: [{name: someone, user: {token: not-a-secret}}]',
          'contexts: [{name: gone, context: {cluster: gone, user: someone}}]',
          'current-context: gone',
          '',
        ].join('\n'),
      );
      Object.assign(env, { PATH: `${bin}:${tools}`, KUBECONFIG: kubeconfig });
    }
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        join(scriptsDir, script),
        args,
        { env, cwd: dirname(scriptsDir), timeout: 60_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
    const calls = readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as string[]);
    return { ...result, calls };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Calls that change something in the cluster. */
export function mutations(calls: string[][]): string[] {
  const verbs = new Set(['apply', 'set', 'patch', 'scale', 'delete', 'annotate', 'label', 'create', 'replace', 'edit']);
  return calls
    .filter(
      (call) =>
        verbs.has(call[0]!) || (call[0] === 'rollout' && ['undo', 'restart', 'pause', 'resume'].includes(call[1]!)),
    )
    .map((call) => call.join(' '));
}

/** The stderr of a failed run: exactly one line. */
export function errorLine(run: Run): string {
  const lines = run.stderr.split('\n').filter(Boolean);
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${run.stderr}`);
  return lines[0]!;
}

// ---- fixtures: what the cluster answers ----

export interface DeploymentState {
  name: string;
  container?: string;
  image: string;
  generation: number;
  revision: number;
  replicas?: number;
  ready?: number;
  labels?: Record<string, string>;
}

export function deployment(state: DeploymentState) {
  const replicas = state.replicas ?? 2;
  const ready = state.ready ?? replicas;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: state.name,
      namespace: 'tasktier',
      generation: state.generation,
      labels: state.labels ?? {},
      annotations: { 'deployment.kubernetes.io/revision': String(state.revision) },
    },
    spec: {
      replicas,
      template: {
        spec: {
          containers: [{ name: state.container ?? state.name.replace(/-(blue|green)$/, ''), image: state.image }],
        },
      },
    },
    status: { replicas, readyReplicas: ready, updatedReplicas: replicas, availableReplicas: ready },
  };
}

export const list = (items: unknown[]) => ({ apiVersion: 'v1', kind: 'List', items });

/** kubectl exists and the cluster answers. */
export const reachable: Rule[] = [
  { match: '^version --client', json: { clientVersion: { gitVersion: 'v1.32.4' } } },
  {
    match: '^get deployments --request-timeout=20s --output=name',
    stdout: 'deployment.apps/frontend\ndeployment.apps/backend\n',
  },
];

/** A healthy app behind the Services, as the API server's service proxy returns it. */
export function healthyServices(frontend: string, backend: string, version = '0.2.0'): Rule[] {
  const proxy = (service: string, path: string) =>
    `^get --raw /api/v1/namespaces/tasktier/services/http:${service}:http/proxy${path} `;
  return [
    { match: proxy(frontend, '/readyz'), json: { status: 'ready' } },
    { match: proxy(backend, '/readyz'), json: { status: 'ready' } },
    { match: proxy(frontend, '/version'), json: { service: 'tasktier-frontend', version, revision: 'x', node: 'v24' } },
    { match: proxy(backend, '/version'), json: { service: 'tasktier-backend', version, revision: 'x', node: 'v24' } },
    { match: proxy(frontend, '/api/openapi.json'), json: { openapi: '3.1.0', paths: {} } },
    { match: proxy(frontend, '/'), stdout: '<!doctype html><html lang="en"><title>tasktier</title></html>' },
  ];
}
