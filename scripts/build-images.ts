// `npm run images`: builds the backend and frontend images with docker or podman, whichever works
// here, tagged with the version from the root package.json and `latest`.
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import {
  detectEngine,
  dockerfilePath,
  imageBuildArgs,
  imageRepository,
  megabytes,
  projectVersion,
  repoRoot,
  run,
  type ServiceName,
  services,
} from '../containers/engine.ts';

const HELP = `Usage: npm run images [-- options]

Builds tasktier/backend and tasktier/frontend from services/Dockerfile (context: the repository
root; SERVICE, PORT and DESCRIPTION build arguments pick the service), tagged <version> (from package.json) and latest, with docker if its daemon answers, else
podman. Labels carry the version, the git commit and the source URL.

Options:
  --engine docker|podman   use this engine (default: CONTAINER_ENGINE, else whichever works)
  --service NAME           build only this service (backend or frontend); repeatable
  --build-arg KEY=VALUE    passed to every build, e.g. BUILD_IMAGE=… or RUNTIME_IMAGE=… for a mirror
  --no-latest              do not also tag latest
  --quiet                  print only the summary, not the build output
  --help                   show this help

Environment: TASKTIER_SOURCE_URL sets the source label when git has no remote named origin.`;

function git(...args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export interface BuiltImage {
  service: ServiceName;
  tags: string[];
  bytes: number;
  seconds: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engine: { type: 'string' },
      service: { type: 'string', multiple: true },
      'build-arg': { type: 'string', multiple: true },
      'no-latest': { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const selected = (values.service ?? [...services]) as ServiceName[];
  for (const service of selected) {
    if (!services.includes(service)) throw new Error(`unknown service ${service} (backend or frontend)`);
  }
  for (const arg of values['build-arg'] ?? []) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(arg)) throw new Error(`--build-arg must be KEY=VALUE, not ${arg}`);
  }

  const probe = detectEngine(values.engine ?? process.env.CONTAINER_ENGINE);
  if (!probe.ok) {
    throw new Error(`no working container engine (${probe.reasons.join('; ')}); see no-registry/setup-podman.sh`);
  }
  const { engine } = probe;
  const version = projectVersion();
  const revision = git('rev-parse', 'HEAD') ?? 'unknown';
  const dirty = revision !== 'unknown' && (git('status', '--porcelain', '--untracked-files=no') ?? '') !== '';
  const source = git('remote', 'get-url', 'origin') ?? process.env.TASKTIER_SOURCE_URL ?? 'unknown';
  process.stdout.write(
    `[images] ${engine.name} ${engine.version}; version ${version}, revision ${revision.slice(0, 12)}${dirty ? ' (uncommitted changes not in the label)' : ''}\n`,
  );

  const built: BuiltImage[] = [];
  for (const service of selected) {
    const repository = imageRepository(service);
    const tags = [`${repository}:${version}`, ...(values['no-latest'] ? [] : [`${repository}:latest`])];
    const args = ['build', '--file', dockerfilePath, ...tags.flatMap((tag) => ['--tag', tag])];
    for (const arg of [
      ...imageBuildArgs(service),
      `VERSION=${version}`,
      `REVISION=${revision}`,
      `SOURCE=${source}`,
      ...(values['build-arg'] ?? []),
    ]) {
      args.push('--build-arg', arg);
    }
    args.push(repoRoot);
    process.stdout.write(`[images] building ${tags.join(', ')}\n`);
    const started = Date.now();
    await run(engine.name, args, values.quiet ? {} : { echo: `[${service}] ` });
    const seconds = (Date.now() - started) / 1000;
    const size = await run(engine.name, ['image', 'inspect', '--format', '{{.Size}}', tags[0] as string]);
    const bytes = Number(size.stdout.trim());
    built.push({ service, tags, bytes, seconds });
    process.stdout.write(`[images] built ${tags[0]} in ${seconds.toFixed(1)} s: ${megabytes(bytes)}\n`);
  }
  process.stdout.write('[images] done:\n');
  for (const image of built) {
    process.stdout.write(
      `  ${image.tags.join(', ').padEnd(52)} ${megabytes(image.bytes).padStart(9)}  ${image.seconds.toFixed(1)} s\n`,
    );
  }
}

main().catch((error: unknown) => {
  // A failed build prints the tail of its output after the first line; bad input is one line.
  process.stderr.write(`images: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
