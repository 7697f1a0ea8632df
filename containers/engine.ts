// Shared helpers for the container scripts and tests: find a container engine that actually works
// (a `docker` client without a daemon does not count), run its commands with visible progress, and
// read the names the Dockerfiles and compose.yaml use.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root (this file is containers/engine.ts). */
export const repoRoot = fileURLToPath(new URL('../', import.meta.url));

export type EngineName = 'podman' | 'docker';

export interface Engine {
  name: EngineName;
  /** Server version as the engine reports it. */
  version: string;
}

export type EngineProbe = { ok: true; engine: Engine } | { ok: false; reasons: string[] };

function probe(name: EngineName): { engine?: Engine; reason?: string } {
  const format = name === 'docker' ? '{{.ServerVersion}}' : '{{.Version.Version}}';
  const result = spawnSync(name, ['info', '--format', format], { encoding: 'utf8', timeout: 30_000 });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    return { reason: code === 'ENOENT' ? `${name}: not installed` : `${name}: ${result.error.message}` };
  }
  if (result.status !== 0) {
    const why = (result.stderr || result.stdout).trim().split('\n').pop() ?? `exit ${result.status}`;
    return { reason: `${name}: \`${name} info\` failed (${why})` };
  }
  return { engine: { name, version: result.stdout.trim() } };
}

/**
 * Finds an engine whose `info` works: CONTAINER_ENGINE if set (and only that one), else docker,
 * then podman.
 */
export function detectEngine(preferred = process.env.CONTAINER_ENGINE): EngineProbe {
  if (preferred !== undefined && preferred !== '' && preferred !== 'docker' && preferred !== 'podman') {
    return { ok: false, reasons: [`CONTAINER_ENGINE must be docker or podman, not ${preferred}`] };
  }
  const candidates: EngineName[] = preferred ? [preferred as EngineName] : ['docker', 'podman'];
  const reasons: string[] = [];
  for (const name of candidates) {
    const { engine, reason } = probe(name);
    if (engine) return { ok: true, engine };
    if (reason) reasons.push(reason);
  }
  return { ok: false, reasons };
}

export interface RunOptions {
  /** Prefix each output line with this and print it as it comes (progress). Quiet when undefined. */
  echo?: string;
  /** Written to the command's standard input. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolve instead of reject on a non-zero exit. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; rejects with the output's tail when it fails. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    const echo = (chunk: string): void => {
      if (options.echo === undefined) return;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) process.stdout.write(`${options.echo}${line}\n`);
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      echo(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      echo(chunk);
    });
    child.on('error', reject);
    // A command that exits without reading its input (most do) must not crash us with EPIPE.
    child.stdin.on('error', () => {});
    child.on('close', (code) => {
      if (pending && options.echo !== undefined) process.stdout.write(`${options.echo}${pending}\n`);
      const result = { code: code ?? 1, stdout, stderr };
      if (result.code === 0 || options.allowFailure) resolve(result);
      else {
        const tail = (stderr || stdout).trim().split('\n').slice(-15).join('\n');
        reject(new Error(`${command} ${args.slice(0, 3).join(' ')} … exited ${result.code}:\n${tail}`));
      }
    });
    child.stdin.end(options.input ?? '');
  });
}

/** The version in the root package.json: the tag of the images. */
export function projectVersion(): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error('package.json has no version');
  return pkg.version;
}

/** `ARG NAME=default` lines of a Dockerfile (defaults may be quoted). */
export function dockerfileArgDefaults(dockerfile: string): Map<string, string> {
  const args = new Map<string, string>();
  for (const line of readFileSync(dockerfile, 'utf8').split('\n')) {
    const match = /^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$/.exec(line);
    if (match?.[1] && match[2]) args.set(match[1], match[2].replace(/^(['"])(.*)\1$/, '$2'));
  }
  return args;
}

export const services = ['backend', 'frontend'] as const;
export type ServiceName = (typeof services)[number];

/** The one Dockerfile of both services: the build arguments of `imageBuildArgs` pick the service. */
export const dockerfilePath = join(repoRoot, 'services', 'Dockerfile');

/** The port each service listens on in its image (its PORT default). */
export const servicePorts: Record<ServiceName, number> = { backend: 5000, frontend: 8080 };

/** The build arguments that make services/Dockerfile the image of `service`. */
export function imageBuildArgs(service: ServiceName): string[] {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'services', service, 'package.json'), 'utf8')) as {
    description?: string;
  };
  return [
    `SERVICE=${service}`,
    `PORT=${servicePorts[service]}`,
    ...(pkg.description ? [`DESCRIPTION=${pkg.description}`] : []),
  ];
}

/** Image repository of a service, without tag, as compose.yaml and `npm run images` name it. */
export const imageRepository = (service: ServiceName): string => `tasktier/${service}`;

/** One platform's image in a manifest list. */
export interface ManifestEntry {
  /** os/architecture[/variant], e.g. linux/arm64. */
  platform: string;
  architecture: string;
  digest: string;
}

/** The images of the local manifest list under a name, or undefined when the name holds none. */
export async function localManifestList(engine: Engine, name: string): Promise<ManifestEntry[] | undefined> {
  // `manifest exists` looks only here; `manifest inspect` of a plain image would ask its registry.
  if ((await run(engine.name, ['manifest', 'exists', name], { allowFailure: true })).code !== 0) return undefined;
  const list = JSON.parse((await run(engine.name, ['manifest', 'inspect', name])).stdout) as {
    manifests?: Array<{ digest: string; platform?: { os?: string; architecture?: string; variant?: string } }>;
  };
  return (list.manifests ?? []).map(({ digest, platform = {} }) => ({
    platform: [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/'),
    architecture: platform.architecture ?? '',
    digest,
  }));
}

/** This machine's architecture by the name images and platforms use (amd64, arm64, …). */
export function hostArchitecture(): string {
  const names: Partial<Record<NodeJS.Architecture, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };
  return names[process.arch] ?? process.arch;
}

/** Formats a byte count as MB (10^6), the unit `docker images` and `podman images` print. */
export const megabytes = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
