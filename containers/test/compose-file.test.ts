// Checks the committed container files themselves (no container engine needed): the security
// settings of compose.yaml, the Dockerfiles' shape, .dockerignore, and the compose translation the
// stack test relies on.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ComposeFile,
  durationSeconds,
  interpolate,
  loadCompose,
  runArguments,
  startOrder,
} from '../compose-podman.ts';
import { dockerfileArgDefaults, dockerfilePath, projectVersion, repoRoot, services } from '../engine.ts';

const composeFile = join(repoRoot, 'compose.yaml');
// Defaults as a user gets them (no variables set), plus a secrets file that exists.
const compose: ComposeFile = loadCompose(composeFile, {
  TASKTIER_SECRETS_FILE: join(repoRoot, 'deploy/compose/secrets.env.example'),
});

describe('compose.yaml', () => {
  it('has redis, backend and frontend, started in dependency order', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['backend', 'frontend', 'redis']);
    expect(startOrder(compose)).toEqual(['redis', 'backend', 'frontend']);
    expect(compose.services.backend?.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    expect(compose.services.frontend?.depends_on).toEqual({ backend: { condition: 'service_healthy' } });
  });

  it.each(['redis', 'backend', 'frontend'])(
    '%s is hardened: read-only, tmpfs /tmp, no capabilities, non-root',
    (name) => {
      const service = compose.services[name];
      expect(service?.read_only).toBe(true);
      expect(service?.tmpfs).toEqual([expect.stringMatching(/^\/tmp(:|$)/)]);
      expect(service?.cap_drop).toEqual(['ALL']);
      expect(service?.cap_add).toBeUndefined();
      expect(service?.security_opt).toContain('no-new-privileges:true');
      expect(service?.restart).toBe('unless-stopped');
      expect(service?.user).toBe(name === 'redis' ? '999:1000' : '1000:1000');
      expect(service?.healthcheck?.test.length).toBeGreaterThan(1);
    },
  );

  it('uses the official redis:7-alpine with AOF and a password from the untracked env file', () => {
    const redis = compose.services.redis;
    expect(redis?.image).toBe('docker.io/library/redis:7-alpine');
    expect(redis?.env_file).toBe(join(repoRoot, 'deploy/compose/secrets.env.example'));
    expect(loadCompose(composeFile, {}).services.redis?.env_file).toBe('deploy/compose/secrets.env');
    expect([redis?.command ?? []].flat().join(' ')).toContain('requirepass ${REDIS_PASSWORD:?');
    expect(redis?.healthcheck?.test.join(' ')).toContain('redis-cli ping');
    const conf = readFileSync(join(repoRoot, 'deploy/compose/redis.conf'), 'utf8');
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).not.toMatch(/^requirepass/m);
    expect(readFileSync(join(repoRoot, '.gitignore'), 'utf8')).toMatch(/^deploy\/\*\*\/\*\.env$/m);
    expect(readFileSync(join(repoRoot, 'deploy/compose/secrets.env.example'), 'utf8')).toMatch(/^REDIS_PASSWORD=/m);
  });

  it('publishes only the frontend, on 127.0.0.1:8080 by default', () => {
    expect(compose.services.redis?.ports).toBeUndefined();
    expect(compose.services.backend?.ports).toBeUndefined();
    expect(compose.services.frontend?.ports).toEqual(['127.0.0.1:8080:8080']);
    expect(loadCompose(composeFile, { TASKTIER_PORT: '9000' }).services.frontend?.ports).toEqual([
      '127.0.0.1:9000:8080',
    ]);
  });

  it('keeps Redis and the backend on internal networks the frontend only partly shares', () => {
    expect(compose.networks?.data?.internal).toBe(true);
    expect(compose.networks?.app?.internal).toBe(true);
    expect(compose.services.redis?.networks).toEqual(['data']);
    expect(compose.services.backend?.networks).toEqual(['data', 'app']);
    expect(compose.services.frontend?.networks).toEqual(['app', 'edge']);
    expect(compose.networks?.edge?.internal).toBeFalsy();
  });

  it('names the images with the version in package.json', () => {
    const version = projectVersion();
    expect(compose.services.backend?.image).toBe(`tasktier/backend:${version}`);
    expect(compose.services.frontend?.image).toBe(`tasktier/frontend:${version}`);
  });
});

describe('Dockerfiles', () => {
  it.each(services)('%s: multi-stage, pinned base images via build args, non-root, labelled', (service) => {
    const text = readFileSync(dockerfilePath(service), 'utf8');
    const args = dockerfileArgDefaults(dockerfilePath(service));
    expect(args.get('BUILD_IMAGE')).toMatch(/^docker\.io\/library\/node:20\.\d+\.\d+-bookworm$/);
    expect(args.get('RUNTIME_IMAGE')).toMatch(/nodejs24/);
    expect(text).toMatch(/^FROM \$\{BUILD_IMAGE\} AS build$/m);
    expect(text).toMatch(/^FROM \$\{RUNTIME_IMAGE\}$/m);
    expect(text).toMatch(/npm ci/);
    expect(text).toContain(`npm run build -w @tasktier/${service}`);
    expect(text).toMatch(/^USER 1000:1000$/m);
    expect(text).toMatch(/NODE_ENV=production/);
    expect(text).toMatch(new RegExp(`^EXPOSE ${service === 'backend' ? 5000 : 8080}$`, 'm'));
    for (const label of ['source', 'version', 'revision']) expect(text).toContain(`org.opencontainers.image.${label}=`);
    // The runtime stage copies build output only, never node_modules.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose and Dockerfile syntax, not a template
    const runtime = text.slice(text.indexOf('FROM ${RUNTIME_IMAGE}'));
    expect(runtime).not.toMatch(/node_modules/);
  });

  it('.dockerignore keeps node_modules, local data, test output and secrets out of the context', () => {
    const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n');
    for (const pattern of ['**/node_modules', '**/dist', '**/.data', '**/test-results', '.git', '**/*.env']) {
      expect(ignore).toContain(pattern);
    }
  });
});

describe('compose translation for podman', () => {
  it('interpolates like compose', () => {
    const env = { SET: 'x', EMPTY: '' };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose and Dockerfile syntax, not a template
    expect(interpolate('$$HOME ${SET} $SET ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}', env)).toBe(
      '$HOME x x d d  d',
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose and Dockerfile syntax, not a template
    expect(() => interpolate('${UNSET:?needed}', env)).toThrow(/UNSET: needed/);
    expect(durationSeconds('1m30s', 0)).toBe(90);
    expect(durationSeconds(undefined, 7)).toBe(7);
    expect(() => durationSeconds('10 parsecs', 0)).toThrow(/bad duration/);
  });

  it('turns every security setting into podman flags', () => {
    const project = { name: 'p', dir: repoRoot, compose };
    const args = runArguments(project, 'redis').join(' ');
    expect(args).toContain('--read-only --read-only-tmpfs=false');
    expect(args).toContain('--tmpfs /tmp:rw,noexec,nosuid,size=64m');
    expect(args).toContain('--cap-drop ALL');
    expect(args).toContain('--security-opt no-new-privileges:true');
    expect(args).toContain('--user 999:1000');
    expect(args).toContain('--network p_data --network-alias redis');
    expect(args).toContain(`--volume ${repoRoot}deploy/compose/redis.conf:/usr/local/etc/redis/redis.conf:ro`);
    expect(args).toContain('--volume p_redis-data:/data');
    const frontend = runArguments(project, 'frontend');
    expect(frontend.join(' ')).toContain('--publish 127.0.0.1:8080:8080');
    expect(frontend[frontend.indexOf('--health-cmd') + 1]).toBe('["node","/app/healthcheck.mjs"]');
    expect(frontend.join(' ')).toContain('--stop-timeout 20');
  });

  it('refuses settings it would otherwise drop silently', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tasktier-compose-'));
    try {
      const path = join(dir, 'compose.yaml');
      writeFileSync(path, readFileSync(composeFile, 'utf8').replace('  redis:\n', '  redis:\n    privileged: true\n'));
      expect(() => loadCompose(path, {})).toThrow(/service redis: unsupported key\(s\) privileged/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
