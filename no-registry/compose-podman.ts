// Runs the services of compose.yaml with plain `podman run`. It reads the committed compose file
// with the `yaml` package and translates every setting the file uses; a setting it does not know
// makes it fail instead of being silently dropped, so what runs is what the file says.
//
// Kept only for what no compose implementation here does. Debian 12's podman-compose 1.0.3
// (test/containers/podman-compose.test.ts runs the stack with it) ignores pids_limit,
// memswap_limit, the networks' ipam subnet (the backend's TRUST_PROXY names it),
// stop_grace_period and profiles, and does not wait for depends_on's service_healthy. Healthchecks
// here run only when asked (`podman healthcheck run`: podman's timers need systemd, which this
// machine does not run), so this runner polls them itself. test/containers/stack.test.ts uses it
// to prove those promises of compose.yaml; docker-compose 1.29 over podman's socket was not tried.
//
//   tsx no-registry/compose-podman.ts up [--project NAME]    start the stack, wait until healthy
//   tsx no-registry/compose-podman.ts down [--project NAME] [--volumes]  remove its containers, networks (and volumes)
//   tsx no-registry/compose-podman.ts run SERVICE [ARGS...]  a one-off container, like `compose run --rm`
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type RunResult, repoRoot, run } from '../containers/engine.ts';

export interface Healthcheck {
  test: string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
}

export interface ComposeService {
  image: string;
  build?: unknown;
  user?: string;
  read_only?: boolean;
  tmpfs?: string[] | string;
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  restart?: string;
  env_file?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  command?: string[] | string;
  entrypoint?: string[] | string;
  volumes?: string[];
  healthcheck?: Healthcheck;
  depends_on?: Record<string, { condition?: string }> | string[];
  ports?: string[];
  networks?: string[] | Record<string, unknown>;
  network_mode?: string;
  stop_grace_period?: string;
  profiles?: string[];
  mem_limit?: string;
  memswap_limit?: string;
  pids_limit?: number;
}

export interface ComposeNetwork {
  internal?: boolean;
  ipam?: { config?: { subnet?: string }[] };
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  networks?: Record<string, ComposeNetwork | null>;
  volumes?: Record<string, unknown>;
}

/** Every service key this runner translates; anything else is an error. */
const SERVICE_KEYS = new Set<string>([
  'image',
  'build', // images are built by `npm run images`; the runner only runs them
  'user',
  'read_only',
  'tmpfs',
  'cap_drop',
  'cap_add',
  'security_opt',
  'restart',
  'env_file',
  'environment',
  'command',
  'entrypoint',
  'volumes',
  'healthcheck',
  'depends_on',
  'ports',
  'networks',
  'network_mode', // only `none`
  'stop_grace_period',
  'profiles', // a service with profiles is a tool: `run` starts it, `up` does not
  'mem_limit',
  'memswap_limit',
  'pids_limit',
]);
/** Every network key this runner translates (ipam: one subnet). */
const NETWORK_KEYS = new Set(['internal', 'ipam']);
const TOP_KEYS = new Set(['name', 'services', 'networks', 'volumes']);

/**
 * Compose variable interpolation: `$$` is a literal `$`; `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?error}`, `${VAR?error}` and `$VAR` take values from `env`.
 */
export function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, op?: string, arg?: string, bare?: string) => {
      if (match === '$$') return '$';
      const name = braced ?? bare ?? '';
      const value = env[name];
      const unset = value === undefined;
      const empty = unset || value === '';
      if (op === ':-') return empty ? (arg ?? '') : (value as string);
      if (op === '-') return unset ? (arg ?? '') : (value as string);
      if (op === ':?' && empty) throw new Error(`compose: ${name}: ${arg || 'required'}`);
      if (op === '?' && unset) throw new Error(`compose: ${name}: ${arg || 'required'}`);
      return value ?? '';
    },
  );
}

function interpolateDeep(value: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof value === 'string') return interpolate(value, env);
  if (Array.isArray(value)) return value.map((item) => interpolateDeep(item, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolateDeep(item, env)]));
  }
  return value;
}

/** Reads compose.yaml (merge keys on, `x-` extensions dropped) and interpolates it with `env`. */
export function loadCompose(file: string, env: Record<string, string | undefined>): ComposeFile {
  const raw = parseYaml(readFileSync(file, 'utf8'), { merge: true }) as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (key.startsWith('x-')) delete raw[key];
    else if (!TOP_KEYS.has(key)) throw new Error(`compose-podman: top-level key ${key} is not supported`);
  }
  const compose = interpolateDeep(raw, env) as ComposeFile;
  for (const [name, service] of Object.entries(compose.services)) {
    const unknown = Object.keys(service).filter((key) => !SERVICE_KEYS.has(key));
    if (unknown.length > 0)
      throw new Error(`compose-podman: service ${name}: unsupported key(s) ${unknown.join(', ')}`);
    if (!service.image) throw new Error(`compose-podman: service ${name} has no image`);
    if (service.network_mode !== undefined && service.network_mode !== 'none')
      throw new Error(`compose-podman: service ${name}: network_mode ${service.network_mode} is not supported`);
  }
  for (const [name, network] of Object.entries(compose.networks ?? {})) {
    const unknown = Object.keys(network ?? {}).filter((key) => !NETWORK_KEYS.has(key));
    const ipam = network?.ipam;
    if (
      ipam !== undefined &&
      (Object.keys(ipam).some((key) => key !== 'config') ||
        (ipam.config ?? []).length !== 1 ||
        Object.keys(ipam.config?.[0] ?? {}).some((key) => key !== 'subnet'))
    )
      unknown.push('ipam (only config with one subnet)');
    if (unknown.length > 0)
      throw new Error(`compose-podman: network ${name}: unsupported key(s) ${unknown.join(', ')}`);
  }
  return compose;
}

/** Go-style duration of compose (`10s`, `1m30s`, `500ms`) in seconds. */
export function durationSeconds(duration: string | undefined, fallback: number): number {
  if (!duration) return fallback;
  let total = 0;
  let rest = duration;
  for (const [, amount, unit] of duration.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    total += Number(amount) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit as 'ms' | 's' | 'm' | 'h'];
    rest = rest.replace(`${amount}${unit}`, '');
  }
  if (rest !== '') throw new Error(`compose-podman: bad duration ${duration}`);
  return total;
}

const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

function environmentEntries(environment: ComposeService['environment']): string[] {
  if (!environment) return [];
  if (Array.isArray(environment)) return environment;
  return Object.entries(environment).map(([key, value]) => (value === null ? key : `${key}=${value}`));
}

export function dependencies(service: ComposeService): Array<{ name: string; condition: string }> {
  const dependsOn = service.depends_on;
  if (!dependsOn) return [];
  if (Array.isArray(dependsOn)) return dependsOn.map((name) => ({ name, condition: 'service_started' }));
  return Object.entries(dependsOn).map(([name, spec]) => ({ name, condition: spec.condition ?? 'service_started' }));
}

/** The services `up` starts (those without profiles), each after what it depends on. */
export function startOrder(compose: ComposeFile): string[] {
  return dependencyOrder(compose).filter((name) => !compose.services[name]?.profiles?.length);
}

/** Every service, including those with profiles, each after what it depends on. */
function dependencyOrder(compose: ComposeFile): string[] {
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string): void => {
    if (order.includes(name)) return;
    if (visiting.has(name)) throw new Error(`compose-podman: dependency cycle at ${name}`);
    const service = compose.services[name];
    if (!service) throw new Error(`compose-podman: unknown service ${name}`);
    visiting.add(name);
    for (const dep of dependencies(service)) visit(dep.name);
    visiting.delete(name);
    order.push(name);
  };
  for (const name of Object.keys(compose.services)) visit(name);
  return order;
}

export interface Project {
  name: string;
  /** Directory relative paths in the compose file resolve against (the repository root). */
  dir: string;
  compose: ComposeFile;
  /** Print progress lines (default true). */
  verbose?: boolean;
}

export const containerName = (project: Project, service: string): string => `${project.name}-${service}-1`;
const networkName = (project: Project, network: string): string => `${project.name}_${network}`;
const volumeName = (project: Project, volume: string): string => `${project.name}_${volume}`;
const projectLabel = (project: Project): string => `com.docker.compose.project=${project.name}`;

/** A one-off container of a service (`compose run --rm SERVICE ARGS`). */
export interface OneOff {
  /** Replaces the service's command when given. */
  command?: string[];
}

function volumeArgument(project: Project, spec: string): string {
  const [source = '', target, mode] = spec.split(':');
  if (!target) throw new Error(`compose-podman: bad volume ${spec}`);
  const isPath = source.startsWith('.') || source.startsWith('/');
  const host = isPath ? resolve(project.dir, source) : volumeName(project, source);
  return [host, target, ...(mode ? [mode] : [])].join(':');
}

/**
 * The `podman run` arguments for one service, translated from its compose settings. With `oneOff`,
 * those of a `compose run --rm`: in the foreground, removed when it exits, without restart policy,
 * published ports or healthcheck.
 */
export function runArguments(project: Project, name: string, oneOff?: OneOff): string[] {
  const service = project.compose.services[name];
  if (!service) throw new Error(`compose-podman: unknown service ${name}`);
  const args = oneOff
    ? ['run', '--rm', '--name', `${project.name}-${name}-run-${randomBytes(4).toString('hex')}`]
    : ['run', '--detach', '--name', containerName(project, name)];
  args.push('--label', projectLabel(project), '--label', `com.docker.compose.service=${name}`);
  if (oneOff) args.push('--label', 'com.docker.compose.oneoff=True');
  if (service.user) args.push('--user', service.user);
  // Docker semantics: read_only makes the whole root filesystem read-only; only the tmpfs mounts
  // the file lists are writable (podman would otherwise add its own tmpfs on /tmp, /var/tmp, /run).
  if (service.read_only) args.push('--read-only', '--read-only-tmpfs=false');
  for (const tmpfs of asList(service.tmpfs)) args.push('--tmpfs', tmpfs);
  for (const cap of service.cap_drop ?? []) args.push('--cap-drop', cap);
  for (const cap of service.cap_add ?? []) args.push('--cap-add', cap);
  for (const option of service.security_opt ?? []) args.push('--security-opt', option);
  if (service.restart && !oneOff) args.push('--restart', service.restart);
  if (service.mem_limit !== undefined) args.push('--memory', service.mem_limit);
  if (service.memswap_limit !== undefined) args.push('--memory-swap', service.memswap_limit);
  if (service.pids_limit !== undefined) args.push('--pids-limit', String(service.pids_limit));
  for (const file of asList(service.env_file)) {
    const path = isAbsolute(file) ? file : join(project.dir, file);
    if (!existsSync(path)) throw new Error(`compose-podman: service ${name}: env file ${file} not found`);
    args.push('--env-file', path);
  }
  for (const entry of environmentEntries(service.environment)) args.push('--env', entry);
  for (const spec of service.volumes ?? []) args.push('--volume', volumeArgument(project, spec));
  if (service.healthcheck && !oneOff) {
    const check = service.healthcheck;
    const [kind, ...command] = check.test;
    if (kind !== 'CMD' && kind !== 'CMD-SHELL')
      throw new Error(`compose-podman: ${name}: healthcheck test must start with CMD or CMD-SHELL`);
    // podman 4 reads a JSON array without the CMD keyword as exec form (with it, it splits the raw
    // string on spaces), and ["CMD-SHELL", "…"] as shell form.
    args.push('--health-cmd', JSON.stringify(kind === 'CMD' ? command : check.test));
    args.push('--health-interval', `${durationSeconds(check.interval, 30)}s`);
    args.push('--health-timeout', `${durationSeconds(check.timeout, 30)}s`);
    args.push('--health-retries', String(check.retries ?? 3));
    args.push('--health-start-period', `${durationSeconds(check.start_period, 0)}s`);
  }
  if (!oneOff) for (const port of service.ports ?? []) args.push('--publish', port);
  if (service.network_mode === 'none') {
    if (service.networks) throw new Error(`compose-podman: service ${name}: network_mode none and networks`);
    args.push('--network', 'none');
  } else {
    const networks = Array.isArray(service.networks)
      ? service.networks
      : Object.keys(service.networks ?? { default: {} });
    for (const network of networks) args.push('--network', networkName(project, network));
    if (!oneOff) args.push('--network-alias', name);
  }
  if (service.stop_grace_period && !oneOff) {
    args.push('--stop-timeout', String(Math.ceil(durationSeconds(service.stop_grace_period, 10))));
  }
  if (service.entrypoint !== undefined) {
    args.push(
      '--entrypoint',
      Array.isArray(service.entrypoint) ? JSON.stringify(service.entrypoint) : service.entrypoint,
    );
  }
  args.push(service.image);
  if (oneOff?.command) args.push(...oneOff.command);
  else if (service.command !== undefined) {
    if (!Array.isArray(service.command))
      throw new Error(`compose-podman: service ${name}: use the list form of command`);
    args.push(...service.command);
  }
  return args;
}

const say = (project: Project, message: string): void => {
  if (project.verbose !== false) process.stdout.write(`[compose-podman] ${message}\n`);
};

/** Runs the service's healthcheck once (`podman healthcheck run`); true when healthy. */
export async function healthy(project: Project, service: string): Promise<boolean> {
  const result = await run('podman', ['healthcheck', 'run', containerName(project, service)], { allowFailure: true });
  return result.code === 0;
}

async function waitHealthy(project: Project, service: string): Promise<void> {
  const check = project.compose.services[service]?.healthcheck;
  if (!check) throw new Error(`compose-podman: ${service} has no healthcheck to wait for`);
  // Compose's budget: the start period plus `retries` intervals; at least a minute here.
  const interval = durationSeconds(check.interval, 30);
  const budget = Math.max(60, durationSeconds(check.start_period, 0) + interval * (check.retries ?? 3));
  const deadline = Date.now() + budget * 1000;
  for (;;) {
    if (await healthy(project, service)) return;
    const state = await run('podman', ['inspect', '--format', '{{.State.Status}}', containerName(project, service)], {
      allowFailure: true,
    });
    if (state.stdout.trim() !== 'running' || Date.now() > deadline) {
      const logs = await run('podman', ['logs', '--tail', '40', containerName(project, service)], {
        allowFailure: true,
      });
      throw new Error(
        `compose-podman: ${service} did not become healthy within ${budget} s (state ${state.stdout.trim()}):\n${logs.stdout}${logs.stderr}`,
      );
    }
    // Polling the healthcheck: the condition itself, checked a few times a second.
    await new Promise((resolveDelay) => setTimeout(resolveDelay, 500));
  }
}

/** The `podman network create` arguments for one network of the file (internal, subnet). */
export function networkArguments(project: Project, network: string): string[] {
  const spec = project.compose.networks?.[network];
  const args = ['network', 'create', '--label', projectLabel(project)];
  if (spec?.internal) args.push('--internal');
  const subnet = spec?.ipam?.config?.[0]?.subnet;
  if (subnet) args.push('--subnet', subnet);
  args.push(networkName(project, network));
  return args;
}

/** Creates the project's networks and volumes, then starts each service once its dependencies are ready. */
export async function up(project: Project): Promise<void> {
  const { compose } = project;
  for (const network of Object.keys(compose.networks ?? {})) {
    const args = networkArguments(project, network);
    await run('podman', args);
    say(project, `network ${args.at(-1)} ${args.slice(4, -1).join(' ')}`.trimEnd());
  }
  for (const volume of Object.keys(compose.volumes ?? {})) {
    await run('podman', ['volume', 'create', '--label', projectLabel(project), volumeName(project, volume)]);
    say(project, `volume ${volumeName(project, volume)}`);
  }
  const started = startOrder(compose);
  for (const name of started) {
    const service = compose.services[name] as ComposeService;
    for (const dep of dependencies(service)) {
      if (dep.condition === 'service_healthy') {
        say(project, `${name}: waiting for ${dep.name} to be healthy`);
        await waitHealthy(project, dep.name);
      } else if (dep.condition !== 'service_started') {
        throw new Error(`compose-podman: depends_on condition ${dep.condition} is not supported`);
      }
    }
    await run('podman', runArguments(project, name));
    say(project, `started ${containerName(project, name)} (${service.image})`);
  }
  for (const name of started) {
    if (compose.services[name]?.healthcheck) await waitHealthy(project, name);
  }
  say(project, `all ${started.length} services healthy`);
}

/**
 * `compose run --rm SERVICE ARGS`: one container of the service in the foreground, removed when it
 * exits; resolves with its exit code and output. Unlike compose, it does not start the services
 * it depends on: they must be up (and healthy where the file says so) already.
 */
export async function runOnce(project: Project, name: string, oneOff: OneOff = {}, echo?: string): Promise<RunResult> {
  const service = project.compose.services[name];
  if (!service) throw new Error(`compose-podman: unknown service ${name}`);
  for (const dep of dependencies(service)) {
    const state = await run('podman', ['inspect', '--format', '{{.State.Status}}', containerName(project, dep.name)], {
      allowFailure: true,
    });
    if (state.stdout.trim() !== 'running')
      throw new Error(`compose-podman: ${name} needs ${dep.name}, which is not running: start the stack first (up)`);
    if (dep.condition === 'service_healthy') await waitHealthy(project, dep.name);
  }
  return run('podman', runArguments(project, name, oneOff), { allowFailure: true, echo });
}

/**
 * Removes what is labelled with the project: containers, then networks, and with `volumes` the
 * volumes too (the Redis data among them), as `compose down [--volumes]` does.
 */
export async function down(project: Project, { volumes: removeVolumes = false } = {}): Promise<void> {
  const filter = ['--filter', `label=${projectLabel(project)}`];
  const containers = (await run('podman', ['ps', '-aq', ...filter], { allowFailure: true })).stdout
    .split('\n')
    .filter(Boolean);
  if (containers.length > 0)
    await run('podman', ['rm', '--force', '--volumes', '--time', '20', ...containers], { allowFailure: true });
  const networks = (await run('podman', ['network', 'ls', '-q', ...filter], { allowFailure: true })).stdout
    .split('\n')
    .filter(Boolean);
  if (networks.length > 0) await run('podman', ['network', 'rm', '--force', ...networks], { allowFailure: true });
  const volumes = removeVolumes
    ? (await run('podman', ['volume', 'ls', '-q', ...filter], { allowFailure: true })).stdout
        .split('\n')
        .filter(Boolean)
    : [];
  if (volumes.length > 0) await run('podman', ['volume', 'rm', '--force', ...volumes], { allowFailure: true });
  say(
    project,
    `removed ${containers.length} container(s), ${networks.length} network(s), ${volumes.length} volume(s)` +
      (removeVolumes ? '' : ' (volumes kept: down --volumes removes them)'),
  );
}

/** Reads KEY=VALUE lines of a compose `.env` file (comments and blank lines skipped). */
export function readDotEnv(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (match?.[1] && !line.trimStart().startsWith('#'))
      env[match[1]] = (match[2] ?? '').replace(/^(['"])(.*)\1$/, '$2');
  }
  return env;
}

const HELP = `Usage: tsx no-registry/compose-podman.ts [--project NAME] [--file compose.yaml] <command>

Runs the services of compose.yaml with plain podman (no compose implementation needed).
Variables come from the environment and ./.env, as with compose.

Commands:
  up                  create the networks and volumes, start each service (except those with
                      profiles) once its dependencies are healthy, wait until every one is healthy
  down [--volumes]    remove its containers and networks; with --volumes its volumes too (the
                      Redis data among them), as compose does
  run SERVICE [ARGS]  like \`compose run --rm\`: one container of SERVICE in the foreground with the
                      file's settings, ARGS replacing its command; its exit status is this one's.
                      The services it depends on must be up already.

Options (before the command):
  --project NAME   project name (default: the file's \`name\`)
  --file PATH      compose file (default: compose.yaml at the repository root)
  --help           show this help`;

interface Cli {
  project?: string;
  file?: string;
  help: boolean;
  command?: string;
  rest: string[];
}

/** Options, then the command; everything after `run SERVICE` belongs to the container, as with compose. */
export function parseCli(argv: string[]): Cli {
  const cli: Cli = { help: false, rest: [] };
  let index = 0;
  for (; index < argv.length; index++) {
    const arg = argv[index] as string;
    if (arg === '--help' || arg === '-h') cli.help = true;
    else if (arg === '--project' || arg === '-p' || arg === '--file' || arg === '-f') {
      const value = argv[++index];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      if (arg === '--project' || arg === '-p') cli.project = value;
      else cli.file = value;
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg} (try --help)`);
    else break;
  }
  cli.command = argv[index];
  cli.rest = argv.slice(index + 1);
  return cli;
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  if (cli.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const { command } = cli;
  if (command !== 'up' && command !== 'down' && command !== 'run')
    throw new Error('expected a command: up, down or run (try --help)');
  const removeVolumes = command === 'down' && cli.rest.length === 1 && ['--volumes', '-v'].includes(cli.rest[0] ?? '');
  if (command !== 'run' && cli.rest.length > 0 && !removeVolumes)
    throw new Error(`${command} takes no arguments${command === 'down' ? ' but --volumes' : ''} (try --help)`);
  const file = resolve(cli.file ?? join(repoRoot, 'compose.yaml'));
  const dir = resolve(file, '..');
  const env = { ...readDotEnv(join(dir, '.env')), ...process.env };
  const compose = loadCompose(file, env);
  const project: Project = { name: cli.project ?? compose.name ?? 'tasktier', dir, compose };
  if (command === 'run') {
    const [service, ...args] = cli.rest;
    if (!service) throw new Error('run needs a service (try --help)');
    const result = await runOnce(project, service, args.length > 0 ? { command: args } : {}, '');
    process.exitCode = result.code;
  } else if (command === 'up') {
    try {
      await up(project);
    } catch (error) {
      process.stderr.write(`compose-podman: up failed; run \`down\` to remove what was started\n`);
      throw error;
    }
  } else await down(project, { volumes: removeVolumes });
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(new URL(import.meta.url).pathname)) {
  main().catch((error: unknown) => {
    process.stderr.write(`compose-podman: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n`);
    process.exitCode = 1;
  });
}
