import { join } from 'node:path';
import { ingressProxy, nginxMain, nginxTempPaths } from '@tasktier/testkit';

/**
 * The Ingress stand-in's config: nginx on 127.0.0.1 proxying to the frontend like ingress-nginx
 * does with this project's annotations: HTTP/1.1 keep-alive upstream pool, X-Forwarded-* and
 * X-Request-ID headers, proxy buffering off (event streams), 60 s read timeout, 1 MB bodies,
 * access log buffered.
 */
export function ingressConfig(options: { dir: string; port: number; upstreamPort: number; nofile: number }): string {
  const { dir } = options;
  return `
worker_processes 1;
worker_rlimit_nofile ${options.nofile};
${nginxMain(dir)}
events { worker_connections 16384; }
http {
  access_log ${join(dir, 'access.log')} combined buffer=64k flush=1s;
${nginxTempPaths(dir)}
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
${ingressProxy('frontend')}
      proxy_buffering off;
      proxy_read_timeout 60s;
    }
  }
}
`;
}
