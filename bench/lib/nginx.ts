import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nofile, type Proc, spawnProc } from './procs.ts';

/** The nginx binary (Debian's package puts it in /usr/sbin, which may not be on PATH). */
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

/**
 * The Ingress stand-in: our own nginx (never the system one) on 127.0.0.1 with a config in a
 * temporary directory, proxying to the frontend like ingress-nginx does with this project's
 * annotations: HTTP/1.1 keep-alive upstream pool, X-Forwarded-* and X-Request-ID headers, proxy
 * buffering off (event streams), 60 s read timeout, 1 MB bodies, access log buffered.
 */
export async function startNginx(options: {
  binary: string;
  dir: string;
  port: number;
  upstreamPort: number;
  logDir: string;
}): Promise<Proc> {
  const { dir } = options;
  mkdirSync(dir, { recursive: true });
  const config = `
worker_processes 1;
worker_rlimit_nofile ${nofile};
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 16384; }
http {
  access_log ${join(dir, 'access.log')} combined buffer=64k flush=1s;
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  upstream frontend {
    server 127.0.0.1:${options.upstreamPort};
    keepalive 320;
    keepalive_requests 10000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${options.port};
    client_max_body_size 1m;
    keepalive_requests 10000;
    location / {
      proxy_pass http://frontend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Request-ID $request_id;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
      proxy_read_timeout 60s;
    }
  }
}
`;
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, config);
  return spawnProc({
    name: 'nginx',
    command: options.binary,
    args: ['-p', dir, '-e', join(dir, 'error.log'), '-c', file],
    logDir: options.logDir,
    readyUrl: `http://127.0.0.1:${options.port}/healthz`,
    stopSignal: 'SIGQUIT',
  });
}
