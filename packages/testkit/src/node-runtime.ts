import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { run } from './process.ts';

/**
 * A Node.js binary of another major version than the one running, from the npm registry: the
 * package node-linux-<arch>@<major> carries `package/bin/node` (glibc-linked). This is how the
 * stand-in base image gets the Node 24 the images ship, and how the benchmark runs the services
 * on it. Tarballs and unpacked binaries are kept in a cache directory.
 */
export interface NodeRuntime {
  /** The unpacked binary (with debug symbols; strip a copy if size matters). */
  path: string;
  /** e.g. 24.21.0 */
  version: string;
  /** The npm tarball it came from. */
  tarball: string;
}

export interface NodeRuntimeOptions {
  /** Default x64. */
  arch?: 'x64' | 'arm64';
  /** Default $XDG_CACHE_HOME/tasktier-standins (or ~/.cache/tasktier-standins). */
  cacheDir?: string;
  /** Progress lines ("fetching ..."). */
  log?: (message: string) => void;
}

export function nodeRuntimeCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tasktier-standins');
}

const versionOf = (tarball: string, arch: string) =>
  new RegExp(`node-linux-${arch}-(\\d+\\.\\d+\\.\\d+)\\.tgz$`).exec(tarball)?.[1];

/** The newest cached tarball of that release (a major version or an exact one), or undefined. */
function cachedTarball(cache: string, release: number | string, arch: string): string | undefined {
  const byVersion = readdirSync(cache)
    .map((file) => ({ file, version: versionOf(file, arch) }))
    .filter(
      (t): t is { file: string; version: string } =>
        t.version !== undefined && (t.version === String(release) || t.version.startsWith(`${release}.`)),
    )
    .sort((a, b) => {
      const [x, y] = [a.version.split('.').map(Number), b.version.split('.').map(Number)];
      return (x[1] ?? 0) - (y[1] ?? 0) || (x[2] ?? 0) - (y[2] ?? 0);
    });
  const newest = byVersion.at(-1);
  return newest ? join(cache, newest.file) : undefined;
}

/**
 * The Node binary of `release` for linux-<arch>: `npm pack node-linux-<arch>@<release>` into the
 * cache, unpacked once per version. `release` is a major version (npm resolves its newest release)
 * or an exact one (24.21.0: the same Node for every architecture of an image). Without the
 * registry, the newest matching tarball already in the cache is used.
 */
export async function nodeRuntime(release: number | string, options: NodeRuntimeOptions = {}): Promise<NodeRuntime> {
  const arch = options.arch ?? 'x64';
  const cache = options.cacheDir ?? nodeRuntimeCacheDir();
  mkdirSync(cache, { recursive: true });
  options.log?.(`fetching the Node ${release} binary (npm pack node-linux-${arch}@${release})`);
  const packed = await run('npm', ['pack', `node-linux-${arch}@${release}`, '--silent', '--pack-destination', cache], {
    timeoutMs: 300_000,
  });
  let tarball = packed.code === 0 ? join(cache, packed.stdout.trim().split('\n').pop() ?? '') : undefined;
  if (tarball === undefined || !existsSync(tarball) || !versionOf(tarball, arch)) {
    tarball = cachedTarball(cache, release, arch);
    if (!tarball) {
      throw new Error(
        `npm pack node-linux-${arch}@${release} failed and ${cache} holds no such tarball: ${packed.stderr.trim().split('\n').slice(-3).join(' | ')}`,
      );
    }
    options.log?.(`npm pack failed; using the cached ${tarball}`);
  }
  const version = versionOf(tarball, arch) as string;
  const dir = join(cache, `node-linux-${arch}-${version}`);
  const path = join(dir, 'bin', 'node');
  if (!existsSync(path)) {
    // Unpacked beside, then renamed: a half-unpacked binary is never taken for a whole one.
    const partial = `${dir}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', partial, '--strip-components=1', 'package/bin/node']);
    if (existsSync(path)) rmSync(partial, { recursive: true, force: true });
    else renameSync(partial, dir);
  }
  return { path, version, tarball };
}
