// `npm run images`: builds the backend and frontend images with docker or podman, whichever works
// here, tagged with the version from the root package.json and `latest`; with --platform, for
// several platforms at once (a manifest list per tag).
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import {
  detectEngine,
  dockerfilePath,
  hostArchitecture,
  imageBuildArgs,
  imageRepository,
  localManifestList,
  megabytes,
  projectVersion,
  repoRoot,
  run,
  type ServiceName,
  services,
} from '../containers/engine.ts';

const HELP = `Usage: npm run images [-- options]

Builds tasktier/backend and tasktier/frontend from services/Dockerfile (context: the repository
root; SERVICE, PORT and DESCRIPTION build arguments pick the service), tagged <version> (from
package.json) and latest, with docker if its daemon answers, else podman. Labels carry the version,
the git commit and the source URL.

Options:
  --engine docker|podman   use this engine (default: CONTAINER_ENGINE, else whichever works)
  --service NAME           build only this service (backend or frontend); repeatable
  --platform LIST          the platforms to build for, comma-separated (default: this machine's),
                           e.g. linux/amd64,linux/arm64. With more than one, each tag is a manifest
                           list holding one image per platform (podman: podman manifest; docker: a
                           multi-platform image, which needs its containerd image store). The build
                           stages run once, natively, on this machine: only the runtime base image
                           differs per platform, so nothing is emulated.
  --registry PREFIX        name the images PREFIX/tasktier/<service> (e.g. registry.example.com/team),
                           ready to push
  --build-arg KEY=VALUE    passed to every build, e.g. BUILD_IMAGE=… or RUNTIME_IMAGE=… for a mirror
  --no-latest              do not also tag latest
  --quiet                  print only the summary, not the build output
  --help                   show this help

To a registry, every platform at once:
  npm run images -- --platform linux/amd64,linux/arm64 --registry registry.example.com/team
  podman manifest push --all registry.example.com/team/tasktier/backend:<version> \\
    docker://registry.example.com/team/tasktier/backend:<version>     (the same for frontend)
  docker push registry.example.com/team/tasktier/backend:<version>   (with docker)

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
  /** Bytes per platform ('' for a single-platform build). */
  sizes: Array<{ platform: string; bytes: number }>;
  seconds: number;
}

const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;
const REGISTRY_PREFIX = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;

/** The platforms of a --platform value, checked; one plain line for a bad one. */
function parsePlatforms(value: string | undefined): string[] {
  if (value === undefined) return [];
  const platforms = value.split(',').map((platform) => platform.trim());
  for (const platform of platforms) {
    if (!PLATFORM.test(platform))
      throw new Error(`--platform takes os/arch[/variant] values separated by commas (linux/arm64), not '${platform}'`);
  }
  if (new Set(platforms).size !== platforms.length) throw new Error(`--platform names a platform twice: ${value}`);
  return platforms;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engine: { type: 'string' },
      service: { type: 'string', multiple: true },
      platform: { type: 'string' },
      registry: { type: 'string' },
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
  const platforms = parsePlatforms(values.platform);
  const registry = values.registry?.replace(/\/+$/, '');
  if (registry !== undefined && !REGISTRY_PREFIX.test(registry)) {
    throw new Error(`--registry takes a registry host and path (registry.example.com/team), not '${values.registry}'`);
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
  const multiPlatform = platforms.length > 1;
  process.stdout.write(
    `[images] ${engine.name} ${engine.version}; version ${version}, revision ${revision.slice(0, 12)}${dirty ? ' (uncommitted changes not in the label)' : ''}${platforms.length ? `; platforms ${platforms.join(', ')}` : ''}\n`,
  );

  const built: BuiltImage[] = [];
  for (const service of selected) {
    const repository = registry ? `${registry}/${imageRepository(service)}` : imageRepository(service);
    const tags = [`${repository}:${version}`, ...(values['no-latest'] ? [] : [`${repository}:latest`])];
    const [first, ...others] = tags as [string, ...string[]];
    if (engine.name === 'podman') {
      // `--manifest` adds to the list a name already holds, and a list left under a tag outlives
      // a rebuild: start each tag afresh.
      for (const tag of tags) {
        if (await localManifestList(engine, tag)) await run('podman', ['manifest', 'rm', tag]);
        else if (multiPlatform) await run('podman', ['untag', tag, tag], { allowFailure: true });
      }
    }
    const args = ['build', '--file', dockerfilePath];
    if (platforms.length > 0) args.push('--platform', platforms.join(','));
    if (engine.name === 'podman' && multiPlatform) args.push('--manifest', first);
    else args.push(...tags.flatMap((tag) => ['--tag', tag]));
    // The build stages run on this machine's platform. BuildKit sets BUILDPLATFORM itself; podman
    // 4.3 does not (and would build them for the target, emulated, or not at all).
    const buildArgs = values['build-arg'] ?? [];
    if (engine.name === 'podman' && !buildArgs.some((arg) => arg.startsWith('BUILDPLATFORM='))) {
      args.push('--build-arg', `BUILDPLATFORM=linux/${hostArchitecture()}`);
    }
    for (const arg of [
      ...imageBuildArgs(service),
      `VERSION=${version}`,
      `REVISION=${revision}`,
      `SOURCE=${source}`,
      ...buildArgs,
    ]) {
      args.push('--build-arg', arg);
    }
    args.push(repoRoot);
    process.stdout.write(
      `[images] building ${tags.join(', ')}${multiPlatform ? ` (a manifest list: ${platforms.join(', ')})` : ''}\n`,
    );
    const started = Date.now();
    await run(engine.name, args, values.quiet ? {} : { echo: `[${service}] ` });
    if (engine.name === 'podman' && multiPlatform) for (const tag of others) await run('podman', ['tag', first, tag]);
    const seconds = (Date.now() - started) / 1000;

    const sizes: BuiltImage['sizes'] = [];
    const instances = engine.name === 'podman' ? await localManifestList(engine, first) : undefined;
    // In the order of --platform, whatever order the builds finished in.
    const ordered = instances?.sort((a, b) => platforms.indexOf(a.platform) - platforms.indexOf(b.platform));
    for (const { platform, digest } of ordered ?? [{ platform: '', digest: '' }]) {
      const image = digest ? `${repository}@${digest}` : first;
      const size = await run(engine.name, ['image', 'inspect', '--format', '{{.Size}}', image]);
      sizes.push({ platform, bytes: Number(size.stdout.trim()) });
    }
    built.push({ service, tags, sizes, seconds });
    const summary = sizes.map(({ platform, bytes }) => `${platform ? `${platform} ` : ''}${megabytes(bytes)}`);
    process.stdout.write(`[images] built ${first} in ${seconds.toFixed(1)} s: ${summary.join(', ')}\n`);
  }
  process.stdout.write('[images] done:\n');
  const row = (name: string, bytes: number | undefined, seconds: number | undefined): string =>
    `  ${name.padEnd(52)} ${bytes === undefined ? ''.padStart(9) : megabytes(bytes).padStart(9)}  ${seconds === undefined ? '' : `${seconds.toFixed(1)} s`}`.trimEnd();
  for (const image of built) {
    const [single] = image.sizes;
    if (image.sizes.length === 1 && single?.platform === '') {
      process.stdout.write(`${row(image.tags.join(', '), single.bytes, image.seconds)}\n`);
      continue;
    }
    process.stdout.write(`${row(`${image.tags.join(', ')} (manifest list)`, undefined, image.seconds)}\n`);
    for (const { platform, bytes } of image.sizes) process.stdout.write(`${row(`  ${platform}`, bytes, undefined)}\n`);
  }
}

main().catch((error: unknown) => {
  // A failed build prints the tail of its output after the first line; bad input is one line.
  process.stderr.write(`images: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
