import { describe, expect, test } from 'vitest';
import { deployment, errorLine, healthyServices, list, mutations, type Rule, reachable, runScript } from './lib/run.ts';

/*
 * deploy/scripts/blue-green, run as users run it, against a STAND-IN kubectl
 * (lib/kubectl-stand-in.mjs: records every call, answers from the fixtures below) because no
 * Kubernetes API server can run here. What is checked is the script's decisions: deploy touches
 * only the idle set, switch is one patch of Service frontend's selector (and records where it
 * came from), rollback patches it back to that, retire scales the idle set to 0, and bad input or
 * a set that is not ready changes nothing.
 */

type Slot = 'blue' | 'green';

function service(live: Slot, previous?: Slot) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'frontend',
      namespace: 'tasktier',
      annotations: previous
        ? { 'tasktier.io/previous-slot': previous, 'tasktier.io/switched-at': '2026-11-25T10:00:00Z' }
        : {},
    },
    spec: { selector: { 'app.kubernetes.io/name': 'frontend', 'tasktier.io/slot': live } },
  };
}

interface SetState {
  version: string;
  replicas: number;
  ready?: number;
}

function sets(blue: SetState, green: SetState) {
  const items = [];
  for (const [slot, set] of [
    ['blue', blue],
    ['green', green],
  ] as const) {
    for (const tier of ['frontend', 'backend']) {
      items.push(
        deployment({
          name: `${tier}-${slot}`,
          image: `tasktier/${tier}:${set.version}`,
          generation: 2,
          revision: 2,
          replicas: set.replicas,
          ready: set.ready ?? set.replicas,
          labels: { 'app.kubernetes.io/name': tier, 'tasktier.io/slot': slot },
        }),
      );
    }
  }
  return list(items);
}

const hpas = (target: Slot) =>
  list(
    ['frontend', 'backend'].map((tier) => ({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: tier },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: `${tier}-${target}` },
        minReplicas: 2,
        maxReplicas: 10,
      },
    })),
  );

/** HTTPRoute frontend of gateway-api/blue-green: every rule weighs the two sets' Services. */
function weightedRoute(live: Slot) {
  const backendRefs = (['blue', 'green'] as const).map((slot) => ({
    name: `frontend-${slot}`,
    port: 8080,
    weight: slot === live ? 100 : 0,
  }));
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'frontend', namespace: 'tasktier' },
    spec: { rules: [{ backendRefs }, { backendRefs: structuredClone(backendRefs) }] },
  };
}

/**
 * What kubectl answers for HTTPRoute frontend: nothing (`--ignore-not-found`: the Ingress entry),
 * the weighted route, or an error (a cluster without Gateway API, or something else).
 */
type RouteAnswer = 'none' | 'weighted' | 'no-gateway-api' | 'forbidden';
function routeRule(answer: RouteAnswer, live: Slot): Rule {
  const match = '^get httproutes.gateway.networking.k8s.io frontend --ignore-not-found ';
  switch (answer) {
    case 'none':
      return { match, stdout: '' };
    case 'weighted':
      return { match, json: weightedRoute(live) };
    case 'no-gateway-api':
      return { match, exit: 1, stderr: 'error: the server doesn\'t have a resource type "httproutes"\n' };
    case 'forbidden':
      return {
        match,
        exit: 1,
        stderr:
          'Error from server (Forbidden): httproutes.gateway.networking.k8s.io "frontend" is forbidden: User "ci" cannot get resource "httproutes"\n',
      };
  }
}

function cluster(options: {
  live: Slot;
  previous?: Slot;
  blue: SetState;
  green: SetState;
  hpa?: boolean;
  route?: RouteAnswer;
}): Rule[] {
  return [
    ...reachable,
    { match: '^get service frontend ', json: service(options.live, options.previous) },
    { match: '^get deployments --selector=tasktier.io/slot ', json: sets(options.blue, options.green) },
    { match: '^get horizontalpodautoscalers ', json: options.hpa ? hpas(options.live) : list([]) },
    routeRule(options.route ?? 'none', options.live),
  ];
}

const patchOf = (call: string) => JSON.parse(call.replace(/^.*--patch=(\{.*\}) --namespace.*$/, '$1')) as unknown;

describe('blue-green: bad input changes nothing', () => {
  test('--help prints the usage and calls nothing', async () => {
    const run = await runScript('blue-green', ['--help'], { kind: 'stand-in', rules: [] });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: deploy/scripts/blue-green COMMAND');
    expect(run.calls).toEqual([]);
  });

  test.each([
    [[], /no command/],
    [['promote'], /unknown command "promote"/],
    [['deploy'], /deploy needs an IMAGE/],
    [['deploy', 'tasktier/redis:8'], /cannot tell the tier of tasktier\/redis:8/],
    [['deploy', 'tasktier/backend:1', 'tasktier/backend:2'], /two images for backend/],
    [['switch', 'now'], /switch takes no arguments/],
    [['status', '--colour'], /Unknown option '--colour'/],
    [['retire', '--timeout', 'later'], /--timeout "later" is not a duration/],
  ])('%j: one line, exit 2, no kubectl call', async (args, message) => {
    const run = await runScript('blue-green', args, { kind: 'stand-in', rules: [] });
    expect(run.code).toBe(2);
    expect(errorLine(run)).toMatch(message);
    expect(run.calls).toEqual([]);
  });

  test('no kubectl: exit 3', async () => {
    const run = await runScript('blue-green', ['switch'], { kind: 'none' });
    expect(run.code).toBe(3);
    expect(errorLine(run)).toMatch(/^blue-green: kubectl not found on PATH/);
  });

  test('the cluster does not answer (real kubectl, nothing listening): exit 3', async () => {
    const run = await runScript('blue-green', ['switch'], { kind: 'unreachable-cluster' });
    expect(run.code).toBe(3);
    expect(errorLine(run)).toMatch(/^blue-green: cannot reach the cluster \(namespace tasktier\)/);
  });

  test('the component is not applied (Service frontend selects no slot): exit 3, no change', async () => {
    const run = await runScript('blue-green', ['switch'], {
      kind: 'stand-in',
      rules: [
        ...reachable,
        { match: '^get service frontend ', json: { metadata: { name: 'frontend' }, spec: { selector: {} } } },
      ],
    });
    expect(run.code).toBe(3);
    expect(errorLine(run)).toMatch(/the blue-green component is not applied in namespace tasktier/);
    expect(mutations(run.calls)).toEqual([]);
  });
});

describe('blue-green: decisions', () => {
  test('status: the live set, what each set runs, how many are ready', async () => {
    const run = await runScript('blue-green', ['status'], {
      kind: 'stand-in',
      rules: cluster({
        live: 'blue',
        previous: 'green',
        blue: { version: '0.2.0', replicas: 3 },
        green: { version: '0.1.0', replicas: 0 },
        hpa: true,
      }),
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('live set: blue (previous: green, switched 2026-11-25T10:00:00Z)');
    expect(run.stdout).toMatch(
      /blue +live +frontend tasktier\/frontend:0\.2\.0 3\/3 ready {2}\| {2}backend tasktier\/backend:0\.2\.0 3\/3 ready/,
    );
    expect(run.stdout).toMatch(/green +preview +frontend tasktier\/frontend:0\.1\.0 0\/0 ready/);
    expect(run.stdout).toContain('autoscaling: frontend -> frontend-blue');
    expect(mutations(run.calls)).toEqual([]);
  });

  test('deploy: new backend on the idle set, frontend as live, scaled like live, smoke-tested via frontend-preview; live untouched', async () => {
    const run = await runScript('blue-green', ['deploy', 'registry.example:5000/tasktier/backend:0.3.0'], {
      kind: 'stand-in',
      rules: [
        ...cluster({ live: 'blue', blue: { version: '0.2.0', replicas: 3 }, green: { version: '0.1.0', replicas: 0 } }),
        { match: '^set image deployment/(frontend|backend)-green ', stdout: 'image updated\n' },
        { match: '^scale deployment/(frontend|backend)-green --replicas=3 ', stdout: 'scaled\n' },
        {
          match: '^rollout status deployment/(frontend|backend)-green --timeout=5m ',
          stdout: 'successfully rolled out\n',
        },
        ...healthyServices('frontend-preview', 'backend-green', '0.3.0'),
      ],
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(mutations(run.calls)).toEqual([
      'set image deployment/frontend-green frontend=tasktier/frontend:0.2.0 --namespace tasktier',
      'set image deployment/backend-green backend=registry.example:5000/tasktier/backend:0.3.0 --namespace tasktier',
      'scale deployment/frontend-green --replicas=3 --namespace tasktier',
      'scale deployment/backend-green --replicas=3 --namespace tasktier',
    ]);
    expect(
      run.calls.filter((call) => call[1] === '--raw').every((call) => /frontend-preview|backend-green/.test(call[2]!)),
    ).toBe(true);
    expect(run.stdout).toContain('green is ready and passed the smoke test');
  });

  test('deploy whose smoke test fails: exit 1, the live set and the Services untouched', async () => {
    const run = await runScript('blue-green', ['deploy', 'tasktier/frontend:0.3.0'], {
      kind: 'stand-in',
      rules: [
        ...cluster({
          live: 'green',
          blue: { version: '0.1.0', replicas: 0 },
          green: { version: '0.2.0', replicas: 2 },
        }),
        { match: '^set image ', stdout: 'image updated\n' },
        { match: '^scale ', stdout: 'scaled\n' },
        { match: '^rollout status ', stdout: 'successfully rolled out\n' },
        {
          match: '^get --raw .*http:frontend-preview:http/proxy/api/openapi.json ',
          stderr: 'Error from server (ServiceUnavailable): the server is currently unable to handle the request\n',
          exit: 1,
        },
        ...healthyServices('frontend-preview', 'backend-blue', '0.3.0'),
      ],
    });
    expect(run.code).toBe(1);
    expect(errorLine(run)).toMatch(
      /smoke test failed: GET \/api\/openapi.json through Service frontend-preview: .*the live set green was not touched/,
    );
    expect(mutations(run.calls).every((call) => /deployment\/(frontend|backend)-blue /.test(call))).toBe(true);
  });

  test('switch: one patch of Service frontend to the idle set, recording the previous one; preview and autoscalers follow', async () => {
    const run = await runScript('blue-green', ['switch'], {
      kind: 'stand-in',
      rules: [
        ...cluster({
          live: 'blue',
          blue: { version: '0.1.0', replicas: 2 },
          green: { version: '0.2.0', replicas: 2 },
          hpa: true,
        }),
        { match: '^patch ', stdout: 'patched\n' },
      ],
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const patches = mutations(run.calls);
    expect(patches.map((call) => call.split(' ').slice(0, 3).join(' '))).toEqual([
      'patch service frontend',
      'patch service frontend-preview',
      'patch horizontalpodautoscaler frontend',
      'patch horizontalpodautoscaler backend',
    ]);
    expect(patchOf(patches[0]!)).toEqual({
      metadata: { annotations: { 'tasktier.io/previous-slot': 'blue', 'tasktier.io/switched-at': expect.any(String) } },
      spec: { selector: { 'tasktier.io/slot': 'green' } },
    });
    expect(patchOf(patches[1]!)).toEqual({ spec: { selector: { 'tasktier.io/slot': 'blue' } } });
    expect(patchOf(patches[2]!)).toEqual({ spec: { scaleTargetRef: { name: 'frontend-green' } } });
    expect(patchOf(patches[3]!)).toEqual({ spec: { scaleTargetRef: { name: 'backend-green' } } });
  });

  test('switch to a set that is not ready: exit 1, nothing patched', async () => {
    const run = await runScript('blue-green', ['switch'], {
      kind: 'stand-in',
      rules: cluster({
        live: 'blue',
        blue: { version: '0.1.0', replicas: 2 },
        green: { version: '0.2.0', replicas: 2, ready: 1 },
      }),
    });
    expect(run.code).toBe(1);
    expect(errorLine(run)).toBe(
      'blue-green: the green set is not ready (frontend-green 1/2 ready, backend-green 1/2 ready): deploy to it first; nothing was switched',
    );
    expect(mutations(run.calls)).toEqual([]);
  });

  test('rollback: Service frontend back to the set recorded by the last switch', async () => {
    const run = await runScript('blue-green', ['rollback'], {
      kind: 'stand-in',
      rules: [
        ...cluster({
          live: 'green',
          previous: 'blue',
          blue: { version: '0.1.0', replicas: 2 },
          green: { version: '0.2.0', replicas: 2 },
        }),
        { match: '^patch ', stdout: 'patched\n' },
      ],
    });
    expect(run.code).toBe(0);
    const patches = mutations(run.calls);
    expect(patches).toHaveLength(2);
    expect(patchOf(patches[0]!)).toMatchObject({
      metadata: { annotations: { 'tasktier.io/previous-slot': 'green' } },
      spec: { selector: { 'tasktier.io/slot': 'blue' } },
    });
    expect(patchOf(patches[1]!)).toEqual({ spec: { selector: { 'tasktier.io/slot': 'green' } } });
  });

  test('rollback to a retired set: scaled up and waited for first, then switched', async () => {
    const run = await runScript('blue-green', ['rollback'], {
      kind: 'stand-in',
      rules: [
        ...reachable,
        { match: '^get service frontend ', json: service('green', 'blue') },
        {
          match: '^get deployments --selector=tasktier.io/slot ',
          json: sets({ version: '0.1.0', replicas: 0 }, { version: '0.2.0', replicas: 2 }),
          times: 1,
        },
        {
          match: '^get deployments --selector=tasktier.io/slot ',
          json: sets({ version: '0.1.0', replicas: 2 }, { version: '0.2.0', replicas: 2 }),
        },
        { match: '^get horizontalpodautoscalers ', json: list([]) },
        routeRule('none', 'green'),
        { match: '^scale deployment/(frontend|backend)-blue --replicas=2 ', stdout: 'scaled\n' },
        { match: '^rollout status deployment/(frontend|backend)-blue ', stdout: 'successfully rolled out\n' },
        { match: '^patch ', stdout: 'patched\n' },
      ],
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(mutations(run.calls).map((call) => call.split(' ').slice(0, 3).join(' '))).toEqual([
      'scale deployment/frontend-blue --replicas=2',
      'scale deployment/backend-blue --replicas=2',
      'patch service frontend',
      'patch service frontend-preview',
    ]);
  });

  test('rollback without an earlier switch: exit 1, nothing patched', async () => {
    const run = await runScript('blue-green', ['rollback'], {
      kind: 'stand-in',
      rules: cluster({
        live: 'blue',
        blue: { version: '0.1.0', replicas: 2 },
        green: { version: '0.2.0', replicas: 2 },
      }),
    });
    expect(run.code).toBe(1);
    expect(errorLine(run)).toBe('blue-green: nothing to roll back to: Service frontend records no earlier switch');
    expect(mutations(run.calls)).toEqual([]);
  });

  test('retire: the idle set scaled to 0, the live one untouched', async () => {
    const run = await runScript('blue-green', ['retire'], {
      kind: 'stand-in',
      rules: [
        ...cluster({
          live: 'green',
          previous: 'blue',
          blue: { version: '0.1.0', replicas: 2 },
          green: { version: '0.2.0', replicas: 2 },
        }),
        { match: '^scale ', stdout: 'scaled\n' },
      ],
    });
    expect(run.code).toBe(0);
    expect(mutations(run.calls)).toEqual([
      'scale deployment/frontend-blue --replicas=0 --namespace tasktier',
      'scale deployment/backend-blue --replicas=0 --namespace tasktier',
    ]);
  });
});

describe('blue-green with the Gateway entry: the HTTPRoute weights move first', () => {
  const jsonPatchOf = (call: string) =>
    JSON.parse(call.replace(/^.*--patch=(\[.*\]) --namespace.*$/, '$1')) as {
      op: string;
      path: string;
      value: number;
    }[];
  const weightsAfter = (live: Slot, operations: { path: string; value: number }[]) => {
    const route = weightedRoute(live);
    for (const operation of operations) {
      const [, rule, backend] = /^\/spec\/rules\/(\d+)\/backendRefs\/(\d+)\/weight$/.exec(operation.path)!;
      route.spec.rules[Number(rule)]!.backendRefs[Number(backend)]!.weight = operation.value;
    }
    return route.spec.rules.map((rule) =>
      rule.backendRefs.map((backend) => `${backend.name}=${backend.weight}`).join(' '),
    );
  };

  test('switch: one JSON patch puts every rule on the idle set (100) and off the live one (0), then the Services', async () => {
    const run = await runScript('blue-green', ['switch'], {
      kind: 'stand-in',
      rules: [
        ...cluster({
          live: 'blue',
          blue: { version: '0.1.0', replicas: 2 },
          green: { version: '0.2.0', replicas: 2 },
          route: 'weighted',
        }),
        { match: '^patch ', stdout: 'patched\n' },
      ],
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const patches = mutations(run.calls);
    expect(patches.map((call) => call.split(' ').slice(0, 3).join(' '))).toEqual([
      'patch httproutes.gateway.networking.k8s.io frontend',
      'patch service frontend',
      'patch service frontend-preview',
    ]);
    expect(patches[0]).toContain('--type=json');
    const operations = jsonPatchOf(patches[0]!);
    expect(operations.every((operation) => operation.op === 'replace')).toBe(true);
    expect(weightsAfter('blue', operations)).toEqual([
      'frontend-blue=0 frontend-green=100',
      'frontend-blue=0 frontend-green=100',
    ]);
    expect(run.stdout).toMatch(/switching HTTPRoute frontend's weights: frontend-green 100, frontend-blue 0/);
  });

  test('rollback: the weights back to the set recorded by the last switch', async () => {
    const run = await runScript('blue-green', ['rollback'], {
      kind: 'stand-in',
      rules: [
        ...cluster({
          live: 'green',
          previous: 'blue',
          blue: { version: '0.1.0', replicas: 2 },
          green: { version: '0.2.0', replicas: 2 },
          route: 'weighted',
        }),
        { match: '^patch ', stdout: 'patched\n' },
      ],
    });
    expect(run.code).toBe(0);
    const patches = mutations(run.calls);
    expect(weightsAfter('green', jsonPatchOf(patches[0]!))).toEqual([
      'frontend-blue=100 frontend-green=0',
      'frontend-blue=100 frontend-green=0',
    ]);
    expect(patchOf(patches[1]!)).toMatchObject({ spec: { selector: { 'tasktier.io/slot': 'blue' } } });
  });

  test('status shows the weights', async () => {
    const run = await runScript('blue-green', ['status'], {
      kind: 'stand-in',
      rules: cluster({
        live: 'blue',
        blue: { version: '0.1.0', replicas: 2 },
        green: { version: '0.2.0', replicas: 0 },
        route: 'weighted',
      }),
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/gateway: HTTPRoute frontend weights frontend-blue 100, frontend-green 0\n/);
  });

  test('a cluster without Gateway API: the Ingress way (the Service selector only)', async () => {
    const run = await runScript('blue-green', ['switch'], {
      kind: 'stand-in',
      rules: [
        ...cluster({
          live: 'blue',
          blue: { version: '0.1.0', replicas: 2 },
          green: { version: '0.2.0', replicas: 2 },
          route: 'no-gateway-api',
        }),
        { match: '^patch ', stdout: 'patched\n' },
      ],
    });
    expect(run.code).toBe(0);
    expect(mutations(run.calls).map((call) => call.split(' ').slice(0, 3).join(' '))).toEqual([
      'patch service frontend',
      'patch service frontend-preview',
    ]);
  });

  test('the route cannot be read (not allowed): exit 3, nothing switched', async () => {
    const run = await runScript('blue-green', ['switch'], {
      kind: 'stand-in',
      rules: cluster({
        live: 'blue',
        blue: { version: '0.1.0', replicas: 2 },
        green: { version: '0.2.0', replicas: 2 },
        route: 'forbidden',
      }),
    });
    expect(run.code).toBe(3);
    expect(errorLine(run)).toMatch(/^blue-green: cannot read HTTPRoute frontend: .*forbidden/);
    expect(mutations(run.calls)).toEqual([]);
  });

  test('the route patch fails: exit 1, the Services untouched', async () => {
    const run = await runScript('blue-green', ['switch'], {
      kind: 'stand-in',
      rules: [
        ...cluster({
          live: 'blue',
          blue: { version: '0.1.0', replicas: 2 },
          green: { version: '0.2.0', replicas: 2 },
          route: 'weighted',
        }),
        { match: '^patch httproutes', exit: 1, stderr: 'Error from server: admission webhook denied the request\n' },
      ],
    });
    expect(run.code).toBe(1);
    expect(errorLine(run)).toMatch(/could not patch HTTPRoute frontend: .*nothing was switched/);
    expect(mutations(run.calls).map((call) => call.split(' ').slice(0, 2).join(' '))).toEqual([
      'patch httproutes.gateway.networking.k8s.io',
    ]);
  });
});
