// amd64 and arm64 images from one command: `npm run images -- --platform linux/amd64,linux/arm64`
// builds a manifest list per image with podman, from stand-in base images for both platforms (the
// runtime base is itself a manifest list, as distroless is). Checked here: each list holds exactly
// linux/amd64 and linux/arm64, each image's config says so and carries a node binary of that
// architecture (its ELF header), both carry the same bundle (built once, natively), and the arm64
// images start and serve: their own node, from their root filesystem, under Debian's
// qemu-user-static, with a real redis-server behind the backend and the frontend in front of it.
//
// How the arm64 images run: `podman run --platform linux/arm64` needs qemu registered with the
// kernel's binfmt_misc, which is not mounted here (and registering it changes the host for
// everyone). So the test mounts each arm64 image (`podman image mount`) and runs the image's command
// (ENTRYPOINT + CMD, node found on the image's PATH) as `qemu-aarch64-static -L <rootfs>`, with the
// image's environment: the loader and libraries come from the image. qemu's -L does not redirect
// every path Node's module loader looks at, so the script is given as its path under the mount.
// Emulated, a service starts in tens of seconds: the Redis command timeout is raised for it.
//
// The images get their own names (--registry localhost/tasktier-multiarch-test), so the stack
// suites' tasktier/* images are left alone; everything made here is removed in afterAll.
// Needs root and podman (no-registry/setup-podman.sh), qemu-user-static and
// binutils-aarch64-linux-gnu (test/system-packages.txt); takes /tmp/tasktier-heavy.lock.
import { createHash } from 'node:crypto';
import { existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { findOnPath, getFreePort, type Proc, type RedisServer, startProcess, startRedis } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  detectEngine,
  type Engine,
  localManifestList,
  projectVersion,
  repoRoot,
  run,
  type ServiceName,
  services,
} from '../../containers/engine.ts';
import { buildStandins } from '../../no-registry/standin-base-images.ts';
import { acquireHeavyLock } from './heavy-lock.ts';

const log = (line: string): void => {
  process.stdout.write(`[multiarch] ${line}\n`);
};

const required = process.env.TASKTIER_REQUIRE_ALL_SUITES === '1';
const tsx = join(repoRoot, 'node_modules/.bin/tsx');
const PLATFORMS = ['linux/amd64', 'linux/arm64'];
/** ELF e_machine of each architecture's binaries. */
const ELF_MACHINE: Record<string, number> = { amd64: 62, arm64: 183 };
const REGISTRY = 'localhost/tasktier-multiarch-test';
const QEMU = 'qemu-aarch64-static';

function podman(): Engine | string {
  if (process.platform !== 'linux') return `needs Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'needs root (rootful podman, image mounts)';
  if (!findOnPath(QEMU)) return `${QEMU} is not installed (apt-get install -y qemu-user-static)`;
  const probe = detectEngine('podman');
  return probe.ok ? probe.engine : probe.reasons.join('; ');
}

const engine = podman();
const unusable = typeof engine === 'string' ? engine : undefined;
if (unusable && !required) log(`SKIPPED the multi-platform image suite: ${unusable}`);

describe('npm run images --platform, from a user seat', () => {
  it('--help says how to build for several platforms and push them', async () => {
    const help = await run(tsx, ['scripts/build-images.ts', '--help']);
    expect(help.stdout).toContain('--platform LIST');
    expect(help.stdout).toContain('linux/amd64,linux/arm64');
    expect(help.stdout).toMatch(/manifest\s+list/);
    expect(help.stdout).toContain('podman manifest push --all');
  });

  it.each([
    ['--platform', 'linux'],
    ['--platform', 'linux/amd64,linux/amd64'],
    ['--registry', 'Not A Registry'],
  ])('refuses %s %s with one plain line', async (option, value) => {
    const result = await run(tsx, ['scripts/build-images.ts', option, value], { allowFailure: true });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^images: --(platform|registry) /);
  });
});

interface ImageInspect {
  Id: string;
  Architecture: string;
  Os: string;
  Config: {
    User: string;
    Env: string[];
    Entrypoint: string[] | null;
    Cmd: string[] | null;
    Labels: Record<string, string>;
  };
}

/** One platform's image of a manifest list: its inspect and where its root filesystem is mounted. */
interface PlatformImage {
  platform: string;
  image: ImageInspect;
  rootfs: string;
}

/** The e_machine field of an ELF file's header (after checking it is a 64-bit little-endian ELF). */
function elfMachine(path: string): number {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  readSync(fd, header, 0, 20, 0);
  expect(header.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  expect(header[4]).toBe(2); // ELFCLASS64
  expect(header[5]).toBe(1); // little-endian
  return header.readUInt16LE(18);
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** The image's command as paths under its mounted root: the entrypoint found on the image's PATH. */
function imageCommand({ image, rootfs }: PlatformImage): { binary: string; args: string[] } {
  const [command, ...args] = [...(image.Config.Entrypoint ?? []), ...(image.Config.Cmd ?? [])];
  if (!command) throw new Error('the image has no command');
  const path = image.Config.Env.find((entry) => entry.startsWith('PATH='))?.slice(5) ?? '';
  const inside = command.startsWith('/')
    ? command
    : path
        .split(':')
        .map((dir) => `${dir}/${command}`)
        .find((candidate) => existsSync(join(rootfs, candidate)));
  if (!inside) throw new Error(`${command} is not on the image's PATH (${path})`);
  return { binary: join(rootfs, inside), args: args.map((arg) => (arg.startsWith('/') ? join(rootfs, arg) : arg)) };
}

describe.skipIf(unusable !== undefined && !required)('amd64 and arm64 images from one command (podman)', () => {
  if (typeof engine === 'string') {
    it('podman and qemu-user-static are usable (TASKTIER_REQUIRE_ALL_SUITES=1 forbids skipping)', () => {
      expect.fail(`not usable: ${engine}`);
    });
    return;
  }

  const version = projectVersion();
  const images = new Map<ServiceName, PlatformImage[]>();
  const mounted: string[] = [];
  const figures: string[] = [];
  let release: (() => void) | undefined;

  const listName = (service: ServiceName): string => `${REGISTRY}/tasktier/${service}:${version}`;
  const platformImage = (service: ServiceName, platform: string): PlatformImage => {
    const found = images.get(service)?.find((entry) => entry.platform === platform);
    if (!found) throw new Error(`no ${platform} image of ${service}`);
    return found;
  };

  beforeAll(async () => {
    release = await acquireHeavyLock(log);
    const started = Date.now();
    await buildStandins();
    log(`stand-in base images ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // Exactly as a user runs it, but under names of its own.
    const buildStarted = Date.now();
    await run(
      tsx,
      [
        'scripts/build-images.ts',
        ...['--engine', 'podman', '--platform', PLATFORMS.join(','), '--registry', REGISTRY],
        ...['--no-latest', '--quiet'],
      ],
      { echo: '  ' },
    );
    figures.push(`both platforms of both images built in ${((Date.now() - buildStarted) / 1000).toFixed(1)} s`);

    for (const service of services) {
      const list = await localManifestList(engine, listName(service));
      if (!list) throw new Error(`${listName(service)} is no manifest list`);
      const entries: PlatformImage[] = [];
      for (const { digest, platform } of list) {
        const reference = `${REGISTRY}/tasktier/${service}@${digest}`;
        const [image] = JSON.parse((await run('podman', ['image', 'inspect', reference])).stdout) as ImageInspect[];
        if (!image) throw new Error(`no image ${reference}`);
        const rootfs = (await run('podman', ['image', 'mount', image.Id])).stdout.trim();
        mounted.push(image.Id);
        entries.push({ platform, image, rootfs });
      }
      images.set(service, entries);
    }
  });

  afterAll(async () => {
    try {
      for (const id of mounted) await run('podman', ['image', 'unmount', id], { allowFailure: true });
      for (const service of services) {
        await run('podman', ['manifest', 'rm', listName(service)], { allowFailure: true });
        // Only images nothing else names: a platform's image can be the very image another tag
        // holds (the amd64 one is the single-platform build's, from the same layer cache).
        for (const { image } of images.get(service) ?? []) {
          const tags = await run('podman', ['image', 'inspect', '--format', '{{len .RepoTags}}', image.Id], {
            allowFailure: true,
          });
          if (tags.stdout.trim() === '0') await run('podman', ['rmi', image.Id], { allowFailure: true });
        }
      }
    } finally {
      release?.();
      for (const line of figures) log(line);
    }
  });

  it.each(services)('%s: one manifest list with a linux/amd64 and a linux/arm64 image', (service) => {
    const entries = images.get(service) ?? [];
    expect(entries.map((entry) => entry.platform).sort()).toEqual(PLATFORMS);
    for (const { platform, image, rootfs } of entries) {
      // The image's own config agrees with the list.
      expect(`${image.Os}/${image.Architecture}`).toBe(platform);
      expect(image.Config.User).toBe('1000:1000');
      expect(image.Config.Labels['org.opencontainers.image.version']).toBe(version);
      // Its node is a binary of that architecture (a runtime base of the wrong platform would not be).
      const { binary } = imageCommand({ platform, image, rootfs });
      expect(elfMachine(binary), `${platform} ${binary}`).toBe(ELF_MACHINE[image.Architecture]);
    }
    // The same bundle on both: built once, on this machine's platform.
    const [first, second] = entries.map(({ rootfs }) => sha256(join(rootfs, 'app/dist/server.js')));
    expect(first).toBe(second);
  });

  it('the arm64 images start under qemu-user-static: the frontend serves the UI and the API, the backend stores in Redis', async () => {
    const redis: RedisServer = await startRedis();
    const procs: Proc[] = [];
    try {
      const backendPort = await getFreePort();
      const backendMetricsPort = await getFreePort();
      const frontendPort = await getFreePort();
      /** The image's command and environment, on 127.0.0.1:port, under qemu. */
      const startEmulated = async (service: ServiceName, port: number, env: Record<string, string>) => {
        const target = platformImage(service, 'linux/arm64');
        const { binary, args } = imageCommand(target);
        const imageEnv = Object.fromEntries(target.image.Config.Env.map((entry) => entry.split(/=(.*)/s, 2)));
        const started = Date.now();
        const proc = await startProcess({
          name: `${service}-arm64`,
          command: QEMU,
          args: ['-L', target.rootfs, binary, ...args],
          inheritEnv: false,
          env: { ...imageEnv, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
          killAfterMs: 15_000,
          ready: { url: `http://127.0.0.1:${port}/readyz`, timeoutMs: 120_000, intervalMs: 250 },
        });
        procs.push(proc);
        figures.push(`arm64 ${service} ready under qemu in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      };
      // Both at once (two cores); the frontend is ready without the backend.
      await Promise.all([
        startEmulated('backend', backendPort, {
          REDIS_URL: redis.url,
          METRICS_PORT: String(backendMetricsPort),
          // Emulated, the first commands take seconds (the code is not yet compiled).
          REDIS_COMMAND_TIMEOUT_MS: '20000',
          TRUST_PROXY: 'loopback',
        }),
        startEmulated('frontend', frontendPort, {
          METRICS_PORT: '0',
          BACKEND_URL: `http://127.0.0.1:${backendPort}`,
          UPSTREAM_TIMEOUT_MS: '30000',
          UPSTREAM_CONNECT_TIMEOUT_MS: '10000',
        }),
      ]);
      const frontend = `http://127.0.0.1:${frontendPort}`;
      for (const base of [frontend, `http://127.0.0.1:${backendPort}`]) {
        expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
      }
      // The image's Node 24 runs (this machine's is older), and it is the image's build.
      const metrics = await (await fetch(`http://127.0.0.1:${backendMetricsPort}/metrics`)).text();
      const labels = platformImage('backend', 'linux/arm64').image.Config.Labels;
      expect(metrics).toContain(
        `tasktier_backend_build_info{version="${version}",revision="${labels['org.opencontainers.image.revision']}",node="v24.`,
      );

      const page = await fetch(`${frontend}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<script[^>]+src=/);
      // Through the arm64 frontend and backend into Redis.
      const list = await fetch(`${frontend}/api/lists`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(list.status).toBe(201);
      const { id } = (await list.json()) as { id: string };
      expect(redis.cli('exists', `tt:list:{${id}}`)).toBe('1');
    } finally {
      for (const proc of procs) await proc.stop();
      await redis.destroy();
    }
  }, 300_000);
});
