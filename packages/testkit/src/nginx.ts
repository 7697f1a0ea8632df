import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Output, type Proc, type Readiness, startProcess } from './process.ts';
import { waitFor } from './wait.ts';

const execFileAsync = promisify(execFile);

/** Debian's libnginx-mod-stream (the `stream` module is dynamic there). */
export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** The nginx binary (Debian's package puts it in /usr/sbin, which may not be on PATH), or undefined. */
export function findNginx(): string | undefined {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next
    }
  }
  return undefined;
}

export function nginxVersion(binary: string): string {
  // nginx -v prints to stderr: "nginx version: nginx/1.22.1"
  const result = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  return `${result.stderr ?? ''}${result.stdout ?? ''}`.trim().replace(/^nginx version: /, '') || 'unknown';
}

/** The main-context lines that keep an nginx inside `dir`: no daemon, its pid file and error log there. */
export function nginxMain(dir: string): string {
  return `daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;`;
}

/** The http-context lines that keep nginx's temporary files inside `dir`. */
export function nginxTempPaths(dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((name) => `  ${name}_temp_path ${join(dir, name)};`)
    .join('\n');
}

/**
 * A `location /` body that proxies as ingress-nginx does with this project's annotations: HTTP/1.1
 * to a keep-alive upstream pool (Connection cleared), the client's Host, X-Request-ID and the
 * X-Forwarded-* headers. The caller adds timeouts, buffering and retries.
 */
export function ingressProxy(upstream: string): string {
  return `      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Request-ID $request_id;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;`;
}

export interface NginxOptions {
  /** The binary (default: findNginx()). */
  binary?: string;
  /** Its own directory: nginx.conf, pid file, logs, temporary files. */
  dir: string;
  /** The whole nginx.conf (use nginxMain and nginxTempPaths to keep it inside dir). */
  config: string;
  /** When it is ready, e.g. { url: 'http://127.0.0.1:port/healthz', status: 'any' }. */
  ready: Readiness;
  /** Where its output goes (default: kept in memory). */
  output?: Output;
  /** Its open-file limit (see ProcessOptions.nofile). */
  nofile?: number;
  /** The signal that stops it (default SIGTERM, fast; SIGQUIT lets workers finish). */
  stopSignal?: NodeJS.Signals;
  /** stop() sends SIGKILL after this long (default: waits). */
  killAfterMs?: number;
}

export interface Nginx {
  proc: Proc;
  /** Writes a new config and reloads; resolves once the reload has taken effect (old workers stopped accepting). */
  reload(config: string): Promise<void>;
  reloads(): number;
  /** performance.now() at each reload's signal and when it had taken effect. */
  readonly reloadTimes: { start: number; end: number }[];
  errorLog(): string;
  stop(): Promise<void>;
}

/** Our own nginx (never the system one): its config is tested first, then it runs in the foreground. */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const binary = options.binary ?? findNginx();
  if (!binary) throw new Error('nginx not found: apt-get install -y nginx');
  const { dir } = options;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, options.config);
  const args = ['-p', dir, '-e', join(dir, 'error.log'), '-c', file];
  await execFileAsync(binary, [...args, '-t']).catch((error: { stderr?: string }) => {
    throw new Error(`nginx rejected the generated config: ${error.stderr ?? String(error)}`);
  });
  const proc = await startProcess({
    name: 'nginx',
    command: binary,
    args,
    ...(options.output ? { output: options.output } : {}),
    ...(options.nofile === undefined ? {} : { nofile: options.nofile }),
    ...(options.stopSignal ? { stopSignal: options.stopSignal } : {}),
    ...(options.killAfterMs === undefined ? {} : { killAfterMs: options.killAfterMs }),
    ready: options.ready,
  });
  const pidFile = join(dir, 'nginx.pid');
  let reloads = 0;
  const reloadTimes: { start: number; end: number }[] = [];
  // One reload at a time: nginx applies them in order, the caller waits for each to take effect.
  let queue: Promise<void> = Promise.resolve();
  return {
    proc,
    reload(config: string) {
      queue = queue.then(async () => {
        const master = Number(readFileSync(pidFile, 'utf8').trim());
        const before = new Set(workers(master));
        writeFileSync(file, config);
        const start = performance.now();
        await execFileAsync(binary, [...args, '-s', 'reload']);
        reloads++;
        // `-s reload` only signals the master. The reload has taken effect when new workers run
        // (with the new config) and every old one has been told to stop accepting ("shutting down").
        await waitFor(
          `nginx reload #${reloads} to take effect`,
          () => {
            const now = workers(master);
            const fresh = now.filter((pid) => !before.has(pid));
            const oldAccepting = now.filter((pid) => before.has(pid) && !isShuttingDown(pid));
            return fresh.length > 0 && oldAccepting.length === 0;
          },
          { timeoutMs: 10_000, intervalMs: 5 },
        );
        reloadTimes.push({ start, end: performance.now() });
      });
      return queue;
    },
    reloads: () => reloads,
    reloadTimes,
    errorLog: () => {
      try {
        return readFileSync(join(dir, 'error.log'), 'utf8');
      } catch {
        return '';
      }
    },
    async stop() {
      await proc.stop();
    },
  };
}

/** The master's child processes (its workers, current and old ones still finishing requests). */
function workers(master: number): number[] {
  const text = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(/\s+/).map(Number);
}

/** An old worker renames itself "nginx: worker process is shutting down" once it stops accepting. */
function isShuttingDown(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('shutting down');
  } catch {
    return true; // gone
  }
}
