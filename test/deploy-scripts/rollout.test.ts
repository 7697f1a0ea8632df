import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  deployment,
  errorLine,
  healthyServices,
  list,
  mutations,
  type Rule,
  reachable,
  runScript,
  scriptsDir,
} from './lib/run.ts';

/*
 * deploy/scripts/rollout, run as users run it. No Kubernetes API server can run on this machine,
 * so kubectl is a STAND-IN (lib/kubectl-stand-in.mjs) that records every call and answers from
 * the fixtures below; the tests check the script's decisions from those calls: a failed rollout
 * or smoke test leads to `rollout undo` of exactly the Deployments that changed, bad input leads
 * to no call that changes anything. `kubectl kustomize` is the real one (it needs no cluster), as
 * is kubectl in the "cluster unreachable" test.
 */

const before = [
  deployment({ name: 'frontend', image: 'tasktier/frontend:0.1.0', generation: 3, revision: 3 }),
  deployment({ name: 'backend', image: 'tasktier/backend:0.1.0', generation: 7, revision: 5 }),
];
/** The Deployments as `kubectl get` shows them before the change (once), then after it. */
function states(after: unknown[]): Rule[] {
  return [
    { match: '^get deployments --request-timeout=20s --output=json', json: list(before), times: 1 },
    { match: '^get deployments --request-timeout=20s --output=json', json: list(after) },
  ];
}
const bumped = (name: 'frontend' | 'backend', image: string) => {
  const old = before.find((item) => item.metadata.name === name)!;
  return deployment({
    name,
    image,
    generation: old.metadata.generation + 1,
    revision: Number(old.metadata.annotations['deployment.kubernetes.io/revision']) + 1,
  });
};

describe('rollout: bad input changes nothing', () => {
  test('--help prints the usage and calls nothing', async () => {
    const run = await runScript('rollout', ['--help'], { kind: 'stand-in', rules: [] });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: deploy/scripts/rollout');
    expect(run.stdout).toContain('rollout undo');
    expect(run.calls).toEqual([]);
  });

  test.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [[], /nothing to roll out/],
    [['--overlay', 'staging'], /unknown overlay staging \(known: dev, prod/],
    [['--image', 'backend='], /--image backend=: missing or invalid image/],
    [['--image', 'redis=redis:8'], /unknown tier redis/],
    [['--image'], /argument missing|--image/],
    [['--tag', '0.2.0', '--overlay', 'prod'], /either --overlay or --image/],
    [['--tag', '0.2.0', '--timeout', 'soon'], /--timeout "soon" is not a duration/],
    [['--tag', '0.2.0', '--smoke-url', 'not a url'], /--smoke-url "not a url" is not a URL/],
  ])('%j: one line, exit 2, no kubectl call', async (args, message) => {
    const run = await runScript('rollout', args, { kind: 'stand-in', rules: [] });
    expect(run.code).toBe(2);
    expect(errorLine(run)).toMatch(message);
    expect(run.calls).toEqual([]);
  });

  test('an overlay for another namespace: exit 2 after rendering it, nothing applied', async () => {
    const run = await runScript('rollout', ['--overlay', 'dev', '--namespace', 'other'], {
      kind: 'stand-in',
      rules: [{ match: '^kustomize ', real: true }],
    });
    expect(run.code).toBe(2);
    expect(errorLine(run)).toMatch(/deploys to namespace tasktier, not other/);
    expect(run.calls.map((call) => call[0])).toEqual(['kustomize']);
  });

  test.each([
    ['blue-green', /includes the blue-green component: release with deploy\/scripts\/blue-green/],
    ['argo-rollouts', /includes the argo-rollouts component: Argo Rollouts releases it/],
  ])('an overlay with the %s component: exit 2 after rendering it, nothing applied', async (component, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'tasktier-overlay-'));
    try {
      const k8s = relative(dir, join(scriptsDir, '..', 'k8s'));
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        `resources: [${k8s}/overlays/prod]\ncomponents: [${k8s}/components/${component}]\n`,
      );
      const run = await runScript('rollout', ['--overlay', dir], {
        kind: 'stand-in',
        rules: [{ match: '^kustomize ', real: true }],
      });
      expect(run.code).toBe(2);
      expect(errorLine(run)).toMatch(message);
      expect(run.calls.map((call) => call[0])).toEqual(['kustomize']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('no kubectl: one line, exit 3', async () => {
    const run = await runScript('rollout', ['--tag', '0.2.0'], { kind: 'none' });
    expect(run.code).toBe(3);
    expect(errorLine(run)).toMatch(/^rollout: kubectl not found on PATH/);
  });

  test('the cluster does not answer (real kubectl, nothing listening): one line, exit 3', async () => {
    const run = await runScript('rollout', ['--tag', '0.2.0'], { kind: 'unreachable-cluster' });
    expect(run.code).toBe(3);
    expect(errorLine(run)).toMatch(/^rollout: cannot reach the cluster \(namespace tasktier\): .*127\.0\.0\.1:9/);
  });

  test('no access (the API server refuses): one line, exit 3, no change', async () => {
    const run = await runScript('rollout', ['--tag', '0.2.0'], {
      kind: 'stand-in',
      rules: [
        reachable[0]!,
        { match: '^get deployments', stderr: 'error: You must be logged in to the server (Unauthorized)\n', exit: 1 },
      ],
    });
    expect(run.code).toBe(3);
    expect(errorLine(run)).toBe(
      'rollout: cannot reach the cluster (namespace tasktier): error: You must be logged in to the server (Unauthorized)',
    );
    expect(mutations(run.calls)).toEqual([]);
  });

  test('a Deployment that does not exist: exit 2, no change', async () => {
    const run = await runScript('rollout', ['--image', 'backend=tasktier/backend:0.2.0'], {
      kind: 'stand-in',
      rules: [...reachable, { match: '^get deployments .*--output=json', json: list([before[0]]) }],
    });
    expect(run.code).toBe(2);
    expect(errorLine(run)).toMatch(/deployment\/backend not found in namespace tasktier/);
    expect(mutations(run.calls)).toEqual([]);
  });
});

describe('rollout: decisions', () => {
  test('new images, rolled out and smoke-tested: no undo, exit 0', async () => {
    const run = await runScript('rollout', ['--tag', '0.2.0'], {
      kind: 'stand-in',
      rules: [
        ...reachable,
        ...states([bumped('frontend', 'tasktier/frontend:0.2.0'), bumped('backend', 'tasktier/backend:0.2.0')]),
        { match: '^set image deployment/(frontend|backend) ', stdout: 'deployment.apps/x image updated\n' },
        { match: '^rollout status deployment/(frontend|backend) --timeout=5m ', stdout: 'successfully rolled out\n' },
        ...healthyServices('frontend', 'backend'),
      ],
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(mutations(run.calls)).toEqual([
      'set image deployment/frontend frontend=tasktier/frontend:0.2.0 --namespace tasktier',
      'set image deployment/backend backend=tasktier/backend:0.2.0 --namespace tasktier',
    ]);
    const waits = run.calls.filter((call) => call[0] === 'rollout' && call[1] === 'status').map((call) => call[2]);
    expect(waits).toEqual(['deployment/frontend', 'deployment/backend']);
    expect(run.calls.filter((call) => call[1] === '--raw').length).toBeGreaterThanOrEqual(5);
    expect(run.stdout).toContain('smoke test passed');
    expect(run.stdout).toContain('done: deployment/frontend, deployment/backend rolled out');
  });

  test('the rollout does not finish (progress deadline): undo to the previous revision, wait, exit 1', async () => {
    const run = await runScript('rollout', ['--image', 'backend=tasktier/backend:0.2.0', '--timeout', '90s'], {
      kind: 'stand-in',
      rules: [
        ...reachable,
        ...states([before[0], bumped('backend', 'tasktier/backend:0.2.0')]),
        { match: '^set image deployment/backend ', stdout: 'deployment.apps/backend image updated\n' },
        {
          match: '^rollout status deployment/backend --timeout=90s',
          stderr: 'error: deployment "backend" exceeded its progress deadline\n',
          exit: 1,
          times: 1,
        },
        { match: '^rollout undo deployment/backend --to-revision=5 ', stdout: 'deployment.apps/backend rolled back\n' },
        { match: '^rollout status deployment/backend --timeout=90s', stdout: 'successfully rolled out\n' },
      ],
    });
    expect(run.code).toBe(1);
    expect(errorLine(run)).toBe(
      'rollout: deployment/backend did not roll out within 90s: error: deployment "backend" exceeded its progress deadline; rolled back deployment/backend',
    );
    expect(mutations(run.calls)).toEqual([
      'set image deployment/backend backend=tasktier/backend:0.2.0 --namespace tasktier',
      'rollout undo deployment/backend --to-revision=5 --namespace tasktier',
    ]);
    // It waited for the undo, and never smoke-tested a failed rollout.
    expect(run.calls.at(-1)!.slice(0, 3)).toEqual(['rollout', 'status', 'deployment/backend']);
    expect(run.calls.some((call) => call[1] === '--raw')).toBe(false);
  });

  test('the smoke test fails: every changed Deployment is undone, exit 1', async () => {
    const proxy = '^get --raw /api/v1/namespaces/tasktier/services/http:backend:http/proxy/readyz ';
    const run = await runScript('rollout', ['--tag', '0.2.0'], {
      kind: 'stand-in',
      rules: [
        ...reachable,
        ...states([bumped('frontend', 'tasktier/frontend:0.2.0'), bumped('backend', 'tasktier/backend:0.2.0')]),
        { match: '^set image ', stdout: 'image updated\n' },
        { match: '^rollout status ', stdout: 'successfully rolled out\n' },
        { match: '^rollout undo ', stdout: 'rolled back\n' },
        { match: proxy, json: { status: 'redis unavailable' } },
        ...healthyServices('frontend', 'backend'),
      ],
    });
    expect(run.code).toBe(1);
    expect(errorLine(run)).toBe(
      'rollout: smoke test failed: backend /readyz says "redis unavailable"; rolled back deployment/frontend, deployment/backend',
    );
    expect(mutations(run.calls).filter((call) => call.startsWith('rollout undo'))).toEqual([
      'rollout undo deployment/frontend --to-revision=3 --namespace tasktier',
      'rollout undo deployment/backend --to-revision=5 --namespace tasktier',
    ]);
  });

  test('an overlay that changes only the frontend: only the frontend is waited for and undone', async () => {
    const run = await runScript('rollout', ['--overlay', 'prod'], {
      kind: 'stand-in',
      rules: [
        { match: '^kustomize ', real: true },
        ...reachable,
        ...states([bumped('frontend', 'tasktier/frontend:0.1.0'), before[1]]),
        {
          match: '^apply -k .*overlays/prod ',
          stdout:
            'deployment.apps/backend unchanged\ndeployment.apps/frontend configured\nservice/frontend unchanged\n',
        },
        {
          match: '^rollout status deployment/frontend',
          stderr: 'error: timed out waiting for the condition\n',
          exit: 1,
          times: 1,
        },
        { match: '^rollout undo deployment/frontend --to-revision=3 ', stdout: 'rolled back\n' },
        { match: '^rollout status deployment/frontend', stdout: 'successfully rolled out\n' },
      ],
    });
    expect(run.code).toBe(1);
    expect(errorLine(run)).toMatch(
      /deployment\/frontend did not roll out within 5m: .*; rolled back deployment\/frontend$/,
    );
    expect(mutations(run.calls)).toEqual([
      expect.stringMatching(/^apply -k \S+overlays\/prod --namespace tasktier$/),
      'rollout undo deployment/frontend --to-revision=3 --namespace tasktier',
    ]);
    expect(run.calls.some((call) => call.includes('deployment/backend'))).toBe(false);
    expect(run.stdout).toContain('deployment.apps/frontend configured');
  });

  test('the undo fails too: exit 4, saying so', async () => {
    const run = await runScript('rollout', ['--image', 'frontend=tasktier/frontend:0.2.0'], {
      kind: 'stand-in',
      rules: [
        ...reachable,
        ...states([bumped('frontend', 'tasktier/frontend:0.2.0'), before[1]]),
        { match: '^set image ', stdout: 'image updated\n' },
        { match: '^rollout status ', stderr: 'error: timed out waiting for the condition\n', exit: 1 },
        { match: '^rollout undo ', stderr: 'error: unable to find specified revision 3 in history\n', exit: 1 },
      ],
    });
    expect(run.code).toBe(4);
    expect(errorLine(run)).toMatch(
      /and the rollback of deployment\/frontend failed: error: unable to find specified revision 3/,
    );
  });
});
