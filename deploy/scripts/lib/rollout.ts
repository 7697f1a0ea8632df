import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import {
  type DeploymentJson,
  FailedError,
  Kubectl,
  kubectlMessage,
  type ListJson,
  PreflightError,
  parseDuration,
  progress,
  revisionOf,
  runMain,
  type ScriptError,
  UndoFailedError,
  UsageError,
  usageFromParseError,
} from './cli.ts';
import { SLOT_LABEL } from './names.ts';
import { smokeViaServices, smokeViaUrl } from './smoke.ts';

const SCRIPT = 'rollout';
const k8sDir = fileURLToPath(new URL('../../k8s/', import.meta.url));
const TIERS = ['frontend', 'backend'] as const;

const HELP = `Usage: deploy/scripts/rollout (--overlay NAME|DIR | --image TIER=IMAGE... | --tag TAG) [options]

Rolls a change out to the tasktier Deployments and undoes it if it fails:
  1. applies the overlay (kubectl apply -k) or sets the new image(s) (kubectl set image);
  2. waits for every Deployment that changed (kubectl rollout status --timeout);
  3. smoke-tests through the Services (or --smoke-url);
  on any failure: kubectl rollout undo for every Deployment it changed, waits for the undo, and
  exits non-zero with one line saying what failed.

What to roll out (one of):
  --overlay NAME|DIR    an overlay of deploy/k8s/overlays (${knownOverlays().join(', ')}) or a kustomization folder
  --image TIER=IMAGE    a new image for one tier (frontend or backend); repeat for both
  --tag TAG             both tiers to tasktier/frontend:TAG and tasktier/backend:TAG

Options:
  -n, --namespace NS    the namespace (default: tasktier)
      --context NAME    the kubeconfig context (default: the current one)
      --timeout DUR     how long each Deployment may take, kubectl syntax (default: 5m)
      --smoke-url URL   smoke-test through this URL (the Ingress, e.g. http://microservices.local)
                        instead of through the Services; this also writes and reads back a todo
      --no-smoke        skip the smoke test (the rollout status still decides)
  -h, --help            this help

Exit codes: 0 rolled out; 1 failed and rolled back; 2 bad input; 3 no kubectl or no access to the
cluster (nothing changed in either case); 4 the rollback failed too (look at the cluster).
`;

function knownOverlays(): string[] {
  const dir = join(k8sDir, 'overlays');
  return existsSync(dir) ? readdirSync(dir).filter((name) => existsSync(join(dir, name, 'kustomization.yaml'))) : [];
}

interface Options {
  overlay?: string;
  images: Map<string, string>;
  namespace: string;
  context?: string;
  timeout: string;
  smokeUrl?: string;
  smoke: boolean;
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        overlay: { type: 'string' },
        image: { type: 'string', multiple: true },
        tag: { type: 'string' },
        namespace: { type: 'string', short: 'n', default: 'tasktier' },
        context: { type: 'string' },
        timeout: { type: 'string', default: '5m' },
        'smoke-url': { type: 'string' },
        'no-smoke': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw usageFromParseError(error);
  }
}

export function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parse(argv);
  if (values.help) return 'help';
  const images = new Map<string, string>();
  for (const entry of values.image ?? []) {
    const match = /^([a-z]+)=(.*)$/.exec(entry);
    if (!match) throw new UsageError(`--image ${JSON.stringify(entry)} is not TIER=IMAGE`);
    const [, tier, image] = match as unknown as [string, string, string];
    if (!(TIERS as readonly string[]).includes(tier))
      throw new UsageError(`--image: unknown tier ${tier} (frontend or backend)`);
    if (!/^[a-z0-9][\w./:@-]*$/i.test(image)) throw new UsageError(`--image ${tier}=: missing or invalid image`);
    images.set(tier, image);
  }
  if (values.tag !== undefined) {
    if (!/^[\w][\w.-]{0,127}$/.test(values.tag))
      throw new UsageError(`--tag ${JSON.stringify(values.tag)} is not an image tag`);
    for (const tier of TIERS) if (!images.has(tier)) images.set(tier, `tasktier/${tier}:${values.tag}`);
  }
  const modes = (values.overlay !== undefined ? 1 : 0) + (images.size > 0 ? 1 : 0);
  if (modes === 0) throw new UsageError('nothing to roll out: give --overlay, --image or --tag');
  if (modes === 2) throw new UsageError('give either --overlay or --image/--tag, not both');
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(values.namespace)) {
    throw new UsageError(`--namespace ${JSON.stringify(values.namespace)} is not a namespace name`);
  }
  if (values['smoke-url'] !== undefined) {
    let url: URL;
    try {
      url = new URL(values['smoke-url']);
    } catch {
      throw new UsageError(`--smoke-url ${JSON.stringify(values['smoke-url'])} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new UsageError('--smoke-url must be http:// or https://');
  }
  if (values['no-smoke'] && values['smoke-url'] !== undefined)
    throw new UsageError('--no-smoke and --smoke-url contradict each other');
  return {
    overlay: values.overlay,
    images,
    namespace: values.namespace,
    context: values.context,
    timeout: parseDuration(values.timeout),
    smokeUrl: values['smoke-url'],
    smoke: !values['no-smoke'],
  };
}

/** An overlay name (dev, prod) or a folder with a kustomization.yaml. */
function resolveOverlay(value: string): string {
  const named = join(k8sDir, 'overlays', value);
  if (/^[\w-]+$/.test(value) && existsSync(join(named, 'kustomization.yaml'))) return named;
  const folder = isAbsolute(value) ? value : resolve(process.cwd(), value);
  if (existsSync(folder) && statSync(folder).isDirectory()) {
    if (['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some((file) => existsSync(join(folder, file))))
      return folder;
    throw new UsageError(`${value} has no kustomization.yaml`);
  }
  throw new UsageError(`unknown overlay ${value} (known: ${knownOverlays().join(', ')}, or a kustomization folder)`);
}

interface Before {
  generation: number;
  revision?: string;
}

async function deployments(
  kubectl: Kubectl,
  fail: (message: string) => ScriptError,
): Promise<Map<string, DeploymentJson>> {
  const list = await kubectl.getJson<ListJson<DeploymentJson>>(['get', 'deployments'], fail);
  return new Map(list.items.map((item) => [item.metadata.name, item]));
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const overlayDir = options.overlay !== undefined ? resolveOverlay(options.overlay) : undefined;
  const kubectl = new Kubectl({ namespace: options.namespace, context: options.context });
  const say = (message: string) => progress(SCRIPT, message);

  // Render first: an overlay that does not build, or deploys elsewhere, is bad input.
  let targets: string[];
  if (overlayDir) {
    const rendered = await kubectl.ok(
      ['kustomize', overlayDir],
      (message) => new UsageError(`the overlay does not render: ${message}`),
    );
    const objects = parseAllDocuments(rendered)
      .map(
        (document) =>
          document.toJS() as {
            kind?: string;
            metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
          } | null,
      )
      .filter((object) => object?.kind);
    const elsewhere = objects.find(
      (object) => object?.metadata?.namespace && object.metadata.namespace !== options.namespace,
    );
    if (elsewhere) {
      throw new UsageError(
        `the overlay deploys to namespace ${elsewhere.metadata?.namespace}, not ${options.namespace} (use --namespace ${elsewhere.metadata?.namespace})`,
      );
    }
    // The strategy components release differently: refuse rather than wait on the wrong objects.
    if (objects.some((object) => object?.kind === 'Rollout')) {
      throw new UsageError(
        'the overlay includes the argo-rollouts component: Argo Rollouts releases it (kubectl argo rollouts status)',
      );
    }
    if (objects.some((object) => object?.kind === 'Deployment' && object.metadata?.labels?.[SLOT_LABEL])) {
      throw new UsageError('the overlay includes the blue-green component: release with deploy/scripts/blue-green');
    }
    targets = objects.filter((object) => object?.kind === 'Deployment').map((object) => object!.metadata!.name!);
    say(`overlay ${relative(process.cwd(), overlayDir) || overlayDir}: Deployments ${targets.join(', ') || '(none)'}`);
  } else {
    targets = [...options.images.keys()];
  }

  say(
    `checking access to the cluster (namespace ${options.namespace}${options.context ? `, context ${options.context}` : ''})`,
  );
  await kubectl.preflight();
  const live = await deployments(kubectl, (message) => new PreflightError(`cannot read Deployments: ${message}`));
  if (!overlayDir) {
    const missing = targets.filter((name) => !live.has(name));
    if (missing.length > 0) {
      throw new UsageError(
        `deployment/${missing[0]} not found in namespace ${options.namespace}: apply an overlay first`,
      );
    }
  }
  const before = new Map<string, Before>();
  for (const [name, deployment] of live) {
    before.set(name, { generation: deployment.metadata.generation ?? 0, revision: revisionOf(deployment) });
  }

  // 1. The change.
  if (overlayDir) {
    say(`applying ${overlayDir}`);
    const result = await kubectl.run(['apply', '-k', overlayDir]);
    for (const line of result.stdout.trim().split('\n')) if (/configured|created/.test(line)) say(`  ${line.trim()}`);
    // Part of it may have been applied: undo whatever Deployment did change.
    if (result.code !== 0)
      await undoChanged(kubectl, options, before, say, `kubectl apply failed: ${kubectlMessage(result)}`);
  } else {
    for (const [tier, image] of options.images) {
      say(`setting deployment/${tier} container ${tier} to ${image}`);
      const result = await kubectl.run(['set', 'image', `deployment/${tier}`, `${tier}=${image}`]);
      if (result.code !== 0) {
        await undoChanged(
          kubectl,
          options,
          before,
          say,
          `kubectl set image deployment/${tier} failed: ${kubectlMessage(result)}`,
        );
      }
    }
  }

  // Which Deployments did change (a new generation), and which are new.
  const after = await deployments(
    kubectl,
    (message) => new FailedError(`cannot read Deployments after the change: ${message}`),
  );
  const changed = targets.filter((name) => {
    const previous = before.get(name);
    return !previous || (after.get(name)?.metadata.generation ?? 0) > previous.generation;
  });
  if (changed.length === 0) {
    say('no Deployment changed (same images and settings): nothing to roll out');
  }

  // 2. Wait for each of them.
  for (const name of changed) {
    say(`waiting for deployment/${name} (timeout ${options.timeout})`);
    const result = await kubectl.run(['rollout', 'status', `deployment/${name}`, `--timeout=${options.timeout}`]);
    if (result.code !== 0) {
      const reason = `deployment/${name} did not roll out within ${options.timeout}: ${kubectlMessage(result)}`;
      await undoChanged(kubectl, options, before, say, reason, changed);
    }
    say(`  deployment/${name} rolled out`);
  }

  // 3. Smoke test.
  if (options.smoke) {
    try {
      if (options.smokeUrl) await smokeViaUrl(options.smokeUrl, say);
      else {
        await smokeViaServices(
          kubectl,
          { namespace: options.namespace, frontendService: 'frontend', backendService: 'backend' },
          say,
        );
      }
    } catch (error) {
      if (changed.length === 0) throw error;
      await undoChanged(kubectl, options, before, say, error instanceof Error ? error.message : String(error), changed);
    }
  }
  say(changed.length > 0 ? `done: ${changed.map((name) => `deployment/${name}`).join(', ')} rolled out` : 'done');
}

/**
 * Undoes every Deployment that changed (`kubectl rollout undo --to-revision` the revision it had
 * before), waits for the undo, then fails with one line: what failed and what was rolled back.
 */
async function undoChanged(
  kubectl: Kubectl,
  options: Options,
  before: Map<string, Before>,
  say: (message: string) => void,
  reason: string,
  known?: string[],
): Promise<never> {
  let changed = known;
  if (!changed) {
    const now = await deployments(
      kubectl,
      (message) => new UndoFailedError(`${reason}; could not read Deployments to undo: ${message}`),
    );
    changed = [...now.keys()].filter((name) => {
      const previous = before.get(name);
      return previous && (now.get(name)?.metadata.generation ?? 0) > previous.generation;
    });
  }
  const undoable = changed.filter((name) => before.has(name));
  const created = changed.filter((name) => !before.has(name));
  say(`FAILED: ${reason}`);
  if (undoable.length === 0) {
    throw new FailedError(`${reason}; nothing to roll back${created.length ? ` (new: ${created.join(', ')})` : ''}`);
  }
  for (const name of undoable) {
    const revision = before.get(name)?.revision;
    say(`rolling back deployment/${name}${revision ? ` to revision ${revision}` : ''}`);
    await kubectl.ok(
      ['rollout', 'undo', `deployment/${name}`, ...(revision ? [`--to-revision=${revision}`] : [])],
      (message) => new UndoFailedError(`${reason}; and the rollback of deployment/${name} failed: ${message}`),
    );
  }
  for (const name of undoable) {
    say(`waiting for the rollback of deployment/${name}`);
    await kubectl.ok(
      ['rollout', 'status', `deployment/${name}`, `--timeout=${options.timeout}`],
      (message) =>
        new UndoFailedError(`${reason}; rolled back, but deployment/${name} did not become ready again: ${message}`),
    );
  }
  const rolledBack = undoable.map((name) => `deployment/${name}`).join(', ');
  throw new FailedError(
    `${reason}; rolled back ${rolledBack}${created.length ? ` (new, left in place: ${created.join(', ')})` : ''}`,
  );
}

await runMain(SCRIPT, main);
