import { parseArgs } from 'node:util';
import {
  type DeploymentJson,
  FailedError,
  imageOf,
  Kubectl,
  kubectlMessage,
  type ListJson,
  PreflightError,
  parseDuration,
  progress,
  runMain,
  UsageError,
  usageFromParseError,
} from './cli.ts';
import { PREVIEW_SERVICE, PREVIOUS_ANNOTATION, SLOT_LABEL, SWITCHED_ANNOTATION } from './names.ts';
import { smokeViaServices, smokeViaUrl } from './smoke.ts';

const SCRIPT = 'blue-green';
const TIERS = ['frontend', 'backend'] as const;
type Tier = (typeof TIERS)[number];
const SLOTS = ['blue', 'green'] as const;
type Slot = (typeof SLOTS)[number];

const HELP = `Usage: deploy/scripts/blue-green COMMAND [options]

Blue-green releases with deploy/k8s/components/blue-green: two full sets of the app (blue, green),
each frontend talking to the backend of its own set. Service frontend (the Ingress's) selects the
live set, Service frontend-preview the idle one. With the Gateway entry and its blue-green part
(deploy/k8s/components/gateway-api/blue-green), the HTTPRoute frontend sends traffic to the
Services frontend-blue and frontend-green by weight, and switch and rollback move the weights
(100 to the live set, 0 to the other) before the Services.

Commands:
  status              which set is live, what each set runs and how many replicas are ready
  deploy IMAGE...     put IMAGE(s) on the idle set (the tier comes from the name: .../frontend:TAG,
                      .../backend:TAG; a tier not given keeps the live set's image), scale the idle set
                      to the live set's size, wait until it is ready, smoke-test it through
                      frontend-preview. The live set is not touched.
  switch              make the idle set live: one patch of Service frontend's selector (instant),
                      frontend-preview then selects the old set; autoscalers follow the live set.
                      With the Gateway's weights: first one patch of HTTPRoute frontend's weights
  rollback            switch back to the set that was live before the last switch (scaled up again
                      first if it was retired)
  retire              scale the idle set to 0 (its pods drain as in any rollout)

Options:
  -n, --namespace NS    the namespace (default: tasktier)
      --context NAME    the kubeconfig context (default: the current one)
      --timeout DUR     how long a set may take to become ready, kubectl syntax (default: 5m)
      --smoke-url URL   deploy: smoke-test through this URL (which must reach frontend-preview)
                        instead of through the Services
  -h, --help            this help

Exit codes: 0 done; 1 failed (what failed is said; the live set is never left without a ready
set behind it); 2 bad input; 3 no kubectl, no access to the cluster or no blue-green component
(nothing changed in these cases).
`;

export interface Options {
  command: 'status' | 'deploy' | 'switch' | 'rollback' | 'retire';
  images: Map<Tier, string>;
  namespace: string;
  context?: string;
  timeout: string;
  smokeUrl?: string;
}

/** The tier an image is for, from its repository name (tasktier/backend:1.2.3 -> backend). */
function tierOfImage(image: string): Tier | undefined {
  const name = image.split('@')[0]!.replace(/:[\w][\w.-]*$/, '');
  const last = name.split('/').at(-1);
  return TIERS.find((tier) => tier === last);
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        namespace: { type: 'string', short: 'n', default: 'tasktier' },
        context: { type: 'string' },
        timeout: { type: 'string', default: '5m' },
        'smoke-url': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw usageFromParseError(error);
  }
}

export function parseOptions(argv: string[]): Options | 'help' {
  const { values, positionals } = parse(argv);
  if (values.help) return 'help';
  const [command, ...rest] = positionals;
  if (!command) throw new UsageError('no command: give status, deploy, switch, rollback or retire');
  if (!['status', 'deploy', 'switch', 'rollback', 'retire'].includes(command)) {
    throw new UsageError(`unknown command ${JSON.stringify(command)} (status, deploy, switch, rollback or retire)`);
  }
  const images = new Map<Tier, string>();
  if (command === 'deploy') {
    if (rest.length === 0) throw new UsageError('deploy needs an IMAGE, e.g. tasktier/backend:0.2.0');
    for (const image of rest) {
      if (!/^[a-z0-9][\w./:@-]*$/i.test(image))
        throw new UsageError(`${JSON.stringify(image)} is not an image reference`);
      const tier = tierOfImage(image);
      if (!tier) throw new UsageError(`cannot tell the tier of ${image}: its name must end in /frontend or /backend`);
      if (images.has(tier)) throw new UsageError(`two images for ${tier}: ${images.get(tier)} and ${image}`);
      images.set(tier, image);
    }
  } else if (rest.length > 0) {
    throw new UsageError(`${command} takes no arguments (got ${rest.join(' ')})`);
  }
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(values.namespace)) {
    throw new UsageError(`--namespace ${JSON.stringify(values.namespace)} is not a namespace name`);
  }
  if (values['smoke-url'] !== undefined) {
    if (command !== 'deploy') throw new UsageError('--smoke-url applies to deploy only');
    if (!/^https?:\/\/[^\s]+$/.test(values['smoke-url']))
      throw new UsageError(`--smoke-url ${values['smoke-url']} is not an http(s) URL`);
  }
  return {
    command: command as Options['command'],
    images,
    namespace: values.namespace,
    context: values.context,
    timeout: parseDuration(values.timeout),
    smokeUrl: values['smoke-url'],
  };
}

interface ServiceJson {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { selector?: Record<string, string> };
}

interface HpaJson {
  metadata: { name: string };
  spec: { scaleTargetRef: { kind: string; name: string } };
}

interface BackendRefJson {
  name: string;
  port?: number;
  weight?: number;
}

interface RouteJson {
  metadata: { name: string };
  spec: { rules?: { backendRefs?: BackendRefJson[] }[] };
}

interface State {
  live: Slot;
  idle: Slot;
  previous?: Slot;
  switchedAt?: string;
  deployments: Map<string, DeploymentJson>;
  hpas: HpaJson[];
  /** The Gateway's HTTPRoute frontend when it routes to the sets by weight (gateway-api/blue-green). */
  route?: RouteJson;
}

const slotService = (slot: Slot) => `frontend-${slot}`;

/**
 * HTTPRoute frontend, when the Gateway entry is there and routes to frontend-blue / frontend-green
 * by weight; undefined with the Ingress (no Gateway API in the cluster, no such route, or a route
 * to Service frontend, which the selector patch switches as with the Ingress).
 */
async function readWeightedRoute(kubectl: Kubectl): Promise<RouteJson | undefined> {
  const result = await kubectl.run([
    'get',
    'httproutes.gateway.networking.k8s.io',
    'frontend',
    '--ignore-not-found',
    '--request-timeout=20s',
    '--output=json',
  ]);
  if (result.code !== 0) {
    const message = kubectlMessage(result);
    if (/doesn't have a resource type|could not find the requested resource|no matches for kind/i.test(message)) {
      return undefined;
    }
    throw new PreflightError(`cannot read HTTPRoute frontend: ${message}`);
  }
  if (result.stdout.trim() === '') return undefined;
  let route: RouteJson;
  try {
    route = JSON.parse(result.stdout) as RouteJson;
  } catch {
    throw new PreflightError('kubectl get httproute frontend did not return JSON');
  }
  const names = (route.spec.rules ?? []).flatMap((rule) => (rule.backendRefs ?? []).map((backend) => backend.name));
  if (!names.some((name) => SLOTS.some((slot) => name === slotService(slot)))) return undefined;
  return route;
}

/** The slot every rule of the route sends all its traffic to, or undefined when they disagree. */
function routeLive(route: RouteJson): Slot | undefined {
  const lives = (route.spec.rules ?? []).map((rule) => {
    const weighted = (rule.backendRefs ?? []).filter((backend) => (backend.weight ?? 1) > 0);
    return weighted.length === 1 ? SLOTS.find((slot) => weighted[0]!.name === slotService(slot)) : undefined;
  });
  return lives.every((slot) => slot !== undefined && slot === lives[0]) ? lives[0] : undefined;
}

const other = (slot: Slot): Slot => (slot === 'blue' ? 'green' : 'blue');
const isSlot = (value: string | undefined): value is Slot => value === 'blue' || value === 'green';

async function readState(kubectl: Kubectl, namespace: string): Promise<State> {
  const service = await kubectl.getJson<ServiceJson>(
    ['get', 'service', 'frontend'],
    (message) => new PreflightError(`cannot read Service frontend in namespace ${namespace}: ${message}`),
  );
  const live = service.spec.selector?.[SLOT_LABEL];
  if (!isSlot(live)) {
    throw new PreflightError(
      `the blue-green component is not applied in namespace ${namespace}: Service frontend does not select a ${SLOT_LABEL}`,
    );
  }
  const list = await kubectl.getJson<ListJson<DeploymentJson>>(
    ['get', 'deployments', `--selector=${SLOT_LABEL}`],
    (message) => new PreflightError(`cannot read the Deployments: ${message}`),
  );
  const deployments = new Map(list.items.map((item) => [item.metadata.name, item]));
  for (const tier of TIERS) {
    for (const slot of SLOTS) {
      if (!deployments.has(`${tier}-${slot}`)) {
        throw new PreflightError(`deployment/${tier}-${slot} is missing: apply the blue-green component`);
      }
    }
  }
  const hpas = await kubectl.getJson<ListJson<HpaJson>>(
    ['get', 'horizontalpodautoscalers'],
    (message) => new PreflightError(`cannot read the HorizontalPodAutoscalers: ${message}`),
  );
  const previous = service.metadata.annotations?.[PREVIOUS_ANNOTATION];
  const route = await readWeightedRoute(kubectl);
  return {
    live,
    idle: other(live),
    previous: isSlot(previous) ? previous : undefined,
    switchedAt: service.metadata.annotations?.[SWITCHED_ANNOTATION],
    deployments,
    hpas: hpas.items,
    ...(route ? { route } : {}),
  };
}

function readiness(deployment: DeploymentJson | undefined): { ready: number; wanted: number; done: boolean } {
  const wanted = deployment?.spec.replicas ?? 1;
  const ready = deployment?.status?.readyReplicas ?? 0;
  const updated = deployment?.status?.updatedReplicas ?? 0;
  const total = deployment?.status?.replicas ?? 0;
  return { ready, wanted, done: wanted > 0 && ready >= wanted && updated >= wanted && total === wanted };
}

async function status(kubectl: Kubectl, options: Options, say: (line: string) => void): Promise<void> {
  const state = await readState(kubectl, options.namespace);
  const since = state.switchedAt ? `, switched ${state.switchedAt}` : '';
  say(`live set: ${state.live}${state.previous ? ` (previous: ${state.previous}${since})` : ''}`);
  for (const slot of [state.live, state.idle]) {
    const cells = TIERS.map((tier) => {
      const deployment = state.deployments.get(`${tier}-${slot}`);
      const { ready, wanted } = readiness(deployment);
      return `${tier} ${deployment ? imageOf(deployment, tier) : '?'} ${ready}/${wanted} ready`;
    });
    say(`  ${slot.padEnd(5)} ${slot === state.live ? 'live   ' : 'preview'}  ${cells.join('  |  ')}`);
  }
  for (const hpa of state.hpas) say(`  autoscaling: ${hpa.metadata.name} -> ${hpa.spec.scaleTargetRef.name}`);
  if (state.route) {
    const weights = (state.route.spec.rules ?? [])[0]?.backendRefs ?? [];
    const routeSlot = routeLive(state.route);
    say(
      `  gateway: HTTPRoute frontend weights ${weights.map((backend) => `${backend.name} ${backend.weight ?? 1}`).join(', ')}${routeSlot === state.live ? '' : ` (does not match the live set ${state.live}: run switch or rollback again)`}`,
    );
  }
}

async function waitReady(kubectl: Kubectl, options: Options, slot: Slot, say: (line: string) => void): Promise<void> {
  for (const tier of ['backend', 'frontend'] as const) {
    say(`waiting for deployment/${tier}-${slot} (timeout ${options.timeout})`);
    await kubectl.ok(
      ['rollout', 'status', `deployment/${tier}-${slot}`, `--timeout=${options.timeout}`],
      (message) =>
        new FailedError(`deployment/${tier}-${slot} did not become ready: ${message}; the live set was not touched`),
    );
  }
}

/** Scales a set to the live set's size (at least 1), per tier. */
async function scaleLike(kubectl: Kubectl, state: State, slot: Slot, say: (line: string) => void): Promise<void> {
  for (const tier of TIERS) {
    const replicas = Math.max(1, state.deployments.get(`${tier}-${state.live}`)?.spec.replicas ?? 1);
    say(`scaling deployment/${tier}-${slot} to ${replicas}`);
    await kubectl.ok(
      ['scale', `deployment/${tier}-${slot}`, `--replicas=${replicas}`],
      (message) => new FailedError(message),
    );
  }
}

async function deploy(kubectl: Kubectl, options: Options, say: (line: string) => void): Promise<void> {
  const state = await readState(kubectl, options.namespace);
  const idle = state.idle;
  say(`live set: ${state.live}; deploying to the idle set: ${idle}`);
  for (const tier of TIERS) {
    const image = options.images.get(tier) ?? imageOf(state.deployments.get(`${tier}-${state.live}`)!, tier);
    if (!image) throw new FailedError(`deployment/${tier}-${state.live} has no container ${tier}`);
    say(
      `setting deployment/${tier}-${idle} container ${tier} to ${image}${options.images.has(tier) ? '' : ' (as the live set)'}`,
    );
    await kubectl.ok(
      ['set', 'image', `deployment/${tier}-${idle}`, `${tier}=${image}`],
      (message) => new FailedError(message),
    );
  }
  await scaleLike(kubectl, state, idle, say);
  await waitReady(kubectl, options, idle, say);
  try {
    if (options.smokeUrl) await smokeViaUrl(options.smokeUrl, say);
    else {
      await smokeViaServices(
        kubectl,
        { namespace: options.namespace, frontendService: PREVIEW_SERVICE, backendService: `backend-${idle}` },
        say,
      );
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new FailedError(
      `${reason}; the live set ${state.live} was not touched, ${idle} is left for inspection (retire removes it)`,
    );
  }
  say(`${idle} is ready and passed the smoke test; make it live with: deploy/scripts/blue-green switch`);
}

/** The switch itself: one patch of Service frontend (selector + where we came from), then the rest. */
async function switchTo(kubectl: Kubectl, state: State, target: Slot, say: (line: string) => void): Promise<void> {
  const from = state.live;
  const notReady = TIERS.map((tier) => ({ tier, ...readiness(state.deployments.get(`${tier}-${target}`)) })).filter(
    (entry) => !entry.done,
  );
  if (notReady.length > 0) {
    const detail = notReady.map((entry) => `${entry.tier}-${target} ${entry.ready}/${entry.wanted} ready`).join(', ');
    throw new FailedError(`the ${target} set is not ready (${detail}): deploy to it first; nothing was switched`);
  }
  if (state.route) {
    // The Gateway routes by weight: all of every rule's traffic to the target set, in one patch.
    const operations = (state.route.spec.rules ?? []).flatMap((rule, ruleIndex) =>
      (rule.backendRefs ?? []).map((backend, backendIndex) => ({
        op: 'replace',
        path: `/spec/rules/${ruleIndex}/backendRefs/${backendIndex}/weight`,
        value: backend.name === slotService(target) ? 100 : 0,
      })),
    );
    say(`switching HTTPRoute frontend's weights: ${slotService(target)} 100, ${slotService(from)} 0`);
    await kubectl.ok(
      [
        'patch',
        'httproutes.gateway.networking.k8s.io',
        'frontend',
        '--type=json',
        `--patch=${JSON.stringify(operations)}`,
      ],
      (message) => new FailedError(`could not patch HTTPRoute frontend: ${message}; nothing was switched`),
    );
  }
  const patch = {
    metadata: { annotations: { [PREVIOUS_ANNOTATION]: from, [SWITCHED_ANNOTATION]: new Date().toISOString() } },
    spec: { selector: { [SLOT_LABEL]: target } },
  };
  say(`switching Service frontend from ${from} to ${target}`);
  await kubectl.ok(
    ['patch', 'service', 'frontend', '--type=merge', `--patch=${JSON.stringify(patch)}`],
    (message) =>
      new FailedError(
        state.route
          ? `switched HTTPRoute frontend to ${target}, but patching Service frontend failed: ${message}`
          : `could not patch Service frontend: ${message}; nothing was switched`,
      ),
  );
  const partial = (what: string) => (message: string) =>
    new FailedError(`switched Service frontend to ${target}, but ${what} failed: ${message}`);
  say(`Service ${PREVIEW_SERVICE} now selects ${from}`);
  await kubectl.ok(
    [
      'patch',
      'service',
      PREVIEW_SERVICE,
      '--type=merge',
      `--patch=${JSON.stringify({ spec: { selector: { [SLOT_LABEL]: from } } })}`,
    ],
    partial(`patching Service ${PREVIEW_SERVICE}`),
  );
  for (const hpa of state.hpas) {
    const tier = TIERS.find((candidate) => hpa.spec.scaleTargetRef.name === `${candidate}-${from}`);
    if (!tier || hpa.spec.scaleTargetRef.kind !== 'Deployment') continue;
    say(`autoscaler ${hpa.metadata.name} now scales deployment/${tier}-${target}`);
    await kubectl.ok(
      [
        'patch',
        'horizontalpodautoscaler',
        hpa.metadata.name,
        '--type=merge',
        `--patch=${JSON.stringify({ spec: { scaleTargetRef: { name: `${tier}-${target}` } } })}`,
      ],
      partial(`re-pointing autoscaler ${hpa.metadata.name}`),
    );
  }
  say(
    `live set: ${target} (was ${from}); ${from} keeps running: undo with \`blue-green rollback\`, remove it with \`blue-green retire\``,
  );
}

async function rollback(kubectl: Kubectl, options: Options, say: (line: string) => void): Promise<void> {
  const state = await readState(kubectl, options.namespace);
  const target = state.previous;
  if (!target || target === state.live) {
    throw new FailedError('nothing to roll back to: Service frontend records no earlier switch');
  }
  if (
    !readiness(state.deployments.get(`frontend-${target}`)).done ||
    !readiness(state.deployments.get(`backend-${target}`)).done
  ) {
    say(`the ${target} set is not fully up (retired?): scaling it up first`);
    await scaleLike(kubectl, state, target, say);
    await waitReady(kubectl, options, target, say);
    Object.assign(state, await readState(kubectl, options.namespace));
  }
  await switchTo(kubectl, state, target, say);
}

async function retire(kubectl: Kubectl, options: Options, say: (line: string) => void): Promise<void> {
  const state = await readState(kubectl, options.namespace);
  for (const tier of TIERS) {
    say(`scaling deployment/${tier}-${state.idle} to 0`);
    await kubectl.ok(
      ['scale', `deployment/${tier}-${state.idle}`, '--replicas=0'],
      (message) => new FailedError(message),
    );
  }
  say(`${state.idle} retired (the live set ${state.live} is untouched); deploy to it for the next release`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const kubectl = new Kubectl({ namespace: options.namespace, context: options.context });
  const say = (line: string) => progress(SCRIPT, line);
  say(
    `checking access to the cluster (namespace ${options.namespace}${options.context ? `, context ${options.context}` : ''})`,
  );
  await kubectl.preflight();
  switch (options.command) {
    case 'status':
      return status(kubectl, options, say);
    case 'deploy':
      return deploy(kubectl, options, say);
    case 'switch': {
      const state = await readState(kubectl, options.namespace);
      return switchTo(kubectl, state, state.idle, say);
    }
    case 'rollback':
      return rollback(kubectl, options, say);
    case 'retire':
      return retire(kubectl, options, say);
  }
}

await runMain(SCRIPT, main);
