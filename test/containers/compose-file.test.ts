// Checks the committed container files themselves (no container engine needed): the security
// settings of compose.yaml, the Dockerfiles' shape, .dockerignore, and the compose translation the
// stack test relies on.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  dockerfileArgDefaults,
  dockerfilePath,
  imageBuildArgs,
  projectVersion,
  repoRoot,
  services,
} from '../../containers/engine.ts';
import {
  type ComposeFile,
  durationSeconds,
  interpolate,
  loadCompose,
  networkArguments,
  parseCli,
  runArguments,
  startOrder,
} from '../../no-registry/compose-podman.ts';
import { labelRecipe } from '../../no-registry/standin-base-images.ts';

const composeFile = join(repoRoot, 'compose.yaml');
const initSecrets = join(repoRoot, 'deploy/compose/init-secrets');
// Env files as deploy/compose/init-secrets makes them, in a directory of their own.
const secretsDir = mkdtempSync(join(tmpdir(), 'tasktier-compose-secrets-'));
const firstRun = spawnSync(initSecrets, ['--dir', secretsDir], { encoding: 'utf8' });
afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));
// Defaults as a user gets them (no variables set), except where the env files are.
const compose: ComposeFile = loadCompose(composeFile, { TASKTIER_SECRETS_DIR: secretsDir });
const defaults: ComposeFile = loadCompose(composeFile, {});
const hardened = ['redis', 'backend', 'frontend', 'redis-backup', 'redis-restore'];

describe('compose.yaml', () => {
  it('has redis, backend and frontend, started in dependency order, and the backup tools', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'backend',
      'frontend',
      'redis',
      'redis-backup',
      'redis-restore',
    ]);
    // The tools have a profile: `up` leaves them out, `run` starts them.
    expect(startOrder(compose)).toEqual(['redis', 'backend', 'frontend']);
    expect(compose.services['redis-backup']?.profiles).toEqual(['backup']);
    expect(compose.services['redis-restore']?.profiles).toEqual(['backup']);
    expect(compose.services.backend?.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    expect(compose.services.frontend?.depends_on).toEqual({ backend: { condition: 'service_healthy' } });
  });

  it.each(hardened)('%s is hardened: read-only, tmpfs /tmp, no capabilities, non-root', (name) => {
    const service = compose.services[name];
    expect(service?.read_only).toBe(true);
    expect(service?.tmpfs).toEqual([expect.stringMatching(/^\/tmp(:|$)/)]);
    expect(service?.cap_drop).toEqual(['ALL']);
    expect(service?.cap_add).toBeUndefined();
    expect(service?.security_opt).toContain('no-new-privileges:true');
    const tool = name.startsWith('redis-');
    expect(service?.restart).toBe(tool ? 'no' : 'unless-stopped');
    expect(service?.user).toBe(name.startsWith('redis') ? '999:1000' : '1000:1000');
    if (!tool) expect(service?.healthcheck?.test.length).toBeGreaterThan(1);
  });

  it('runs the official redis:7-alpine with AOF and ACL users generated at start from the untracked env files', () => {
    const redis = compose.services.redis;
    expect(redis?.image).toBe('docker.io/library/redis:7-alpine');
    expect(redis?.env_file).toEqual([join(secretsDir, 'backend.env'), join(secretsDir, 'backup.env')]);
    expect(defaults.services.redis?.env_file).toEqual(['deploy/compose/backend.env', 'deploy/compose/backup.env']);
    const command = [redis?.command ?? []].flat().join(' ');
    expect(command).toContain('generate-acl --out /tmp/users.acl');
    expect(command).toMatch(/exec redis-server \S+ --aclfile \/tmp\/users\.acl/);
    expect(command).not.toContain('requirepass');
    expect(redis?.volumes).toContain('./deploy/redis:/usr/local/share/tasktier/redis:ro');
    // The healthcheck needs no secret: `probe` may only PING.
    expect(redis?.healthcheck?.test.join(' ')).toContain('redis-cli --user probe ping');
    expect(redis?.healthcheck?.test.join(' ')).not.toContain('PASSWORD');
    // Redis's settings are the Kubernetes files (their one source), where the ConfigMap mounts them.
    expect(command).toContain('exec redis-server /etc/redis/redis.conf ');
    expect(redis?.volumes).toEqual(
      expect.arrayContaining([
        './deploy/k8s/base/redis.conf:/etc/redis/redis.conf:ro',
        './deploy/k8s/base/redis-durability.conf:/etc/redis/durability.conf:ro',
        './deploy/k8s/base/redis-overrides.conf:/etc/redis/overrides.conf:ro',
      ]),
    );
    const conf = readFileSync(join(repoRoot, 'deploy/k8s/base/redis.conf'), 'utf8');
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).not.toMatch(/^(requirepass|aclfile|user) /m);
  });

  it('gives each container only the passwords it needs', () => {
    const backend = compose.services.backend;
    expect(backend?.env_file).toBe(join(secretsDir, 'backend.env'));
    expect(backend?.environment).toMatchObject({ REDIS_USERNAME: 'backend', REDIS_URL: 'redis://redis:6379' });
    expect(compose.services.frontend?.env_file).toBeUndefined();
    expect(compose.services['redis-backup']?.env_file).toBe(join(secretsDir, 'backup.env'));
    expect([compose.services['redis-backup']?.entrypoint ?? []].flat().join(' ')).toContain('--user backup');
    expect(compose.services['redis-restore']?.env_file).toBeUndefined();
    expect(compose.services['redis-restore']?.network_mode).toBe('none');
    expect(compose.services['redis-restore']?.volumes).toContain('redis-data:/data');
  });

  it('deploy/compose/init-secrets makes both env files with random passwords, private, and never replaces them', () => {
    expect(firstRun.status).toBe(0);
    expect(firstRun.stdout).toContain('created');
    const read = (file: string, variable: string): string => {
      const path = join(secretsDir, file);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const value = new RegExp(`^${variable}=([0-9a-f]+)$`, 'm').exec(readFileSync(path, 'utf8'))?.[1] ?? '';
      expect(value).toMatch(/^[0-9a-f]{48}$/);
      // Only the variable's name may be printed, never its value.
      expect(firstRun.stdout + firstRun.stderr).not.toContain(value);
      return value;
    };
    const backend = read('backend.env', 'REDIS_PASSWORD');
    const backup = read('backup.env', 'REDIS_BACKUP_PASSWORD');
    expect(backend).not.toBe(backup);
    const again = spawnSync(initSecrets, ['--dir', secretsDir], { encoding: 'utf8' });
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('kept');
    expect(read('backend.env', 'REDIS_PASSWORD')).toBe(backend);
    const bad = spawnSync(initSecrets, ['--dir', join(secretsDir, 'missing')], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('keeps the real env files out of Git, with committed examples', () => {
    const gitignore = readFileSync(join(repoRoot, '.gitignore'), 'utf8');
    expect(gitignore).toMatch(/^deploy\/\*\*\/\*\.env$/m);
    expect(gitignore).toMatch(/^!deploy\/\*\*\/\*\.env\.example$/m);
    expect(readFileSync(join(repoRoot, 'deploy/compose/backend.env.example'), 'utf8')).toMatch(/^REDIS_PASSWORD=$/m);
    expect(readFileSync(join(repoRoot, 'deploy/compose/backup.env.example'), 'utf8')).toMatch(
      /^REDIS_BACKUP_PASSWORD=$/m,
    );
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

  it.each(hardened)('%s has a memory limit without swap and a limit on its processes', (name) => {
    const service = compose.services[name];
    expect(service?.mem_limit).toMatch(/^\d+m$/);
    expect(service?.memswap_limit).toBe(service?.mem_limit);
    // Enough for Node's or Redis's threads plus a healthcheck, far below the engine's default.
    expect(service?.pids_limit).toBeGreaterThanOrEqual(32);
    expect(service?.pids_limit).toBeLessThanOrEqual(256);
    const want = { redis: '512m', backend: '512m', frontend: '512m', 'redis-backup': '256m', 'redis-restore': '512m' };
    expect(service?.mem_limit).toBe(want[name as keyof typeof want]);
  });

  it('caps Redis memory below its container limit and refuses writes when full, as in Kubernetes', () => {
    const settings = (file: string): Map<string, string> =>
      new Map(
        readFileSync(join(repoRoot, file), 'utf8')
          .split('\n')
          .map((line) => line.trim())
          .filter((line) => line !== '' && !line.startsWith('#'))
          .map((line) => [line.split(/\s+/)[0]!.toLowerCase(), line.split(/\s+/).slice(1).join(' ')] as const),
      );
    const megabytesOf = (value: string): number => {
      const match = /^(\d+)(mb|m)$/i.exec(value);
      if (!match) throw new Error(`not a size in megabytes: ${value}`);
      return Number(match[1]);
    };
    // compose mounts the Kubernetes base files: redis.conf and its overrides.
    const conf = new Map([
      ...settings('deploy/k8s/base/redis.conf'),
      ...settings('deploy/k8s/base/redis-overrides.conf'),
    ]);
    expect(conf.get('maxmemory-policy')).toBe('noeviction');
    // An AOF rewrite or RDB save forks: copy-on-write can need the dataset's size again.
    const maxmemory = megabytesOf(conf.get('maxmemory') ?? '0m');
    expect(maxmemory).toBeGreaterThan(0);
    expect(maxmemory * 2).toBeLessThanOrEqual(megabytesOf(compose.services.redis?.mem_limit ?? '0m'));
  });

  it('lets the backend believe X-Forwarded-For from the frontend network only, and the frontend nobody', () => {
    // The published entry: a client's own X-Forwarded-For must not choose its address.
    expect(compose.services.frontend?.environment).toHaveProperty('TRUST_PROXY', '');
    const subnet = compose.networks?.app?.ipam?.config?.[0]?.subnet;
    expect(subnet).toBe('10.213.47.0/24');
    expect(compose.services.backend?.environment).toHaveProperty('TRUST_PROXY', subnet);
    // Only the frontend and the backend are on that network, and the backend reaches nothing else's HTTP.
    const onApp = Object.entries(compose.services)
      .filter(([, service]) => ([service.networks ?? []].flat() as string[]).includes('app'))
      .map(([name]) => name)
      .sort();
    expect(onApp).toEqual(['backend', 'frontend']);
    // One variable moves both, so they cannot drift apart.
    const moved = loadCompose(composeFile, { TASKTIER_SECRETS_DIR: secretsDir, TASKTIER_APP_SUBNET: '10.77.0.0/24' });
    expect(moved.networks?.app?.ipam?.config?.[0]?.subnet).toBe('10.77.0.0/24');
    expect(moved.services.backend?.environment).toHaveProperty('TRUST_PROXY', '10.77.0.0/24');
    // The metrics ports (9464, 9465) stay inside: nothing but the frontend's 8080 is published.
    const published = Object.values(compose.services).flatMap((service) => service.ports ?? []);
    expect(published).toEqual(['127.0.0.1:8080:8080']);
  });

  it('names the images with the version in package.json', () => {
    const version = projectVersion();
    expect(compose.services.backend?.image).toBe(`tasktier/backend:${version}`);
    expect(compose.services.frontend?.image).toBe(`tasktier/frontend:${version}`);
  });
});

describe('Dockerfiles', () => {
  it('one template for both services: multi-stage, pinned base images via build args, non-root, labelled', () => {
    const text = readFileSync(dockerfilePath, 'utf8');
    const args = dockerfileArgDefaults(dockerfilePath);
    expect(args.get('BUILD_IMAGE')).toMatch(/^docker\.io\/library\/node:20\.\d+\.\d+-bookworm$/);
    expect(args.get('RUNTIME_IMAGE')).toMatch(/nodejs24/);
    // Multi-platform: every build stage runs on the build machine's platform (its output is
    // platform-neutral JavaScript); the runtime base is the target's, named before any stage with
    // --platform (podman 4.3 would otherwise resolve it for that stage's platform), and the final stage.
    const froms = text.split('\n').filter((line) => line.startsWith('FROM '));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile syntax, not a template
    expect(froms[0]).toBe('FROM ${RUNTIME_IMAGE} AS runtime');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile syntax, not a template
    expect(froms.filter((line) => line.includes('${BUILD_IMAGE}'))).toEqual(
      ['manifests', 'build'].map((stage) => `FROM --platform=\${BUILDPLATFORM} \${BUILD_IMAGE} AS ${stage}`),
    );
    expect(froms.at(-1)).toBe('FROM runtime');
    expect(text).toMatch(/npm ci/);
    expect(text).toContain('npm run build -w "@tasktier/$SERVICE"');
    expect(text).toMatch(/^USER 1000:1000$/m);
    expect(text).toMatch(/NODE_ENV=production/);
    expect(text).toMatch(/^EXPOSE \$\{PORT\}$/m);
    for (const label of ['source', 'version', 'revision']) expect(text).toContain(`org.opencontainers.image.${label}=`);
    // The runtime stage copies build output only, never node_modules.
    const runtime = text.slice(text.lastIndexOf('\nFROM '));
    expect(runtime).not.toMatch(/node_modules/);
  });

  it.each(services)('%s: npm run images and compose.yaml build it with the same arguments', (service) => {
    const build = compose.services[service]?.build as { dockerfile?: string; args?: Record<string, string> };
    expect(build.dockerfile).toBe('services/Dockerfile');
    const fromScript = Object.fromEntries(imageBuildArgs(service).map((arg) => arg.split(/=(.*)/s).slice(0, 2)));
    expect(build.args).toEqual({ SERVICE: fromScript.SERVICE, PORT: fromScript.PORT });
    expect(fromScript.PORT).toBe(service === 'backend' ? '5000' : '8080');
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
    expect(args).toContain(`--volume ${repoRoot}deploy/k8s/base/redis.conf:/etc/redis/redis.conf:ro`);
    expect(args).toContain('--volume p_redis-data:/data');
    expect(args).toContain(
      `--env-file ${join(secretsDir, 'backend.env')} --env-file ${join(secretsDir, 'backup.env')}`,
    );
    const frontend = runArguments(project, 'frontend');
    expect(frontend.join(' ')).toContain('--publish 127.0.0.1:8080:8080');
    expect(frontend[frontend.indexOf('--health-cmd') + 1]).toBe('["node","/app/healthcheck.mjs"]');
    expect(frontend.join(' ')).toContain('--stop-timeout 20');
    expect(frontend.join(' ')).toContain('--memory 512m --memory-swap 512m --pids-limit 128');
    expect(runArguments(project, 'redis-backup', {}).join(' ')).toContain(
      '--memory 256m --memory-swap 256m --pids-limit 64',
    );
    expect(networkArguments(project, 'app')).toEqual([
      'network',
      'create',
      '--label',
      'com.docker.compose.project=p',
      '--internal',
      '--subnet',
      '10.213.47.0/24',
      'p_app',
    ]);
    expect(networkArguments(project, 'edge')).not.toContain('--subnet');
  });

  it('runs a tool like `compose run --rm`: foreground, removed, no restart, arguments replace the command', () => {
    const project = { name: 'p', dir: repoRoot, compose };
    const restore = runArguments(project, 'redis-restore', { command: ['--force', '/backups/x.rdb'] });
    expect(restore.slice(0, 3)).toEqual(['run', '--rm', '--name']);
    expect(restore).not.toContain('--detach');
    expect(restore).not.toContain('--restart');
    expect(restore.join(' ')).toContain('--network none');
    expect(restore.join(' ')).toContain('--volume p_redis-data:/data');
    expect(restore.slice(-3)).toEqual(['docker.io/library/redis:7-alpine', '--force', '/backups/x.rdb']);
    expect(restore[restore.indexOf('--entrypoint') + 1]).toBe('["sh","/scripts/redis-restore","--data-dir","/data"]');
    const backup = runArguments(project, 'redis-backup', {});
    expect(backup.join(' ')).toContain('--network p_data');
    expect(backup).not.toContain('--network-alias');
    expect(backup.slice(-2)).toEqual(['--keep', '14']);
    expect(backup.join(' ')).toContain(`--volume ${repoRoot}.data/backups:/backups`);
    // The command line: options first, then everything after the service belongs to the container.
    expect(parseCli(['-p', 'x', 'run', 'redis-restore', '--force', '/backups'])).toEqual({
      help: false,
      project: 'x',
      command: 'run',
      rest: ['redis-restore', '--force', '/backups'],
    });
    expect(() => parseCli(['--bogus', 'up'])).toThrow(/unknown option --bogus/);
  });

  it('refuses settings it would otherwise drop silently', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tasktier-compose-'));
    try {
      const path = join(dir, 'compose.yaml');
      writeFileSync(path, readFileSync(composeFile, 'utf8').replace('  redis:\n', '  redis:\n    privileged: true\n'));
      expect(() => loadCompose(path, {})).toThrow(/service redis: unsupported key\(s\) privileged/);
      writeFileSync(path, readFileSync(composeFile, 'utf8').replace('  edge: {}\n', '  edge:\n    driver: macvlan\n'));
      expect(() => loadCompose(path, {})).toThrow(/network edge: unsupported key\(s\) driver/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('stand-in base images', () => {
  it('reads the recipe version from the label, so that stand-ins from an older recipe are rebuilt', () => {
    expect(labelRecipe('Debian redis-server 7.0.15 + busybox, standing in for redis:7-alpine [recipe 2]')).toBe(2);
    expect(labelRecipe('Debian redis-server 7.0.15 + busybox, standing in for redis:7-alpine')).toBe(1);
  });
});
