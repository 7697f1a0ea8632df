import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { ICronJob } from 'kubernetes-models/batch/v1/CronJob';
import { afterAll, describe, expect, test } from 'vitest';
import { generatedPath, LEVELS, render, SOURCES } from '../../deploy/redis/durability-levels.ts';
import { checkArchitecture } from './lib/audit.ts';
import { expectationsFor, expectedFlows } from './lib/expectations.ts';
import { allowedFlowNames, connectionMatrix, flowName } from './lib/netpol.ts';
import { checkPodSecurity } from './lib/pss.ts';
import { includedComponents, k8sDir, RenderTree, TARGETS } from './lib/render.ts';
import { type Container, envValue, type Finding, findObject, type K8sObject, podTemplates } from './lib/types.ts';

const execFileAsync = promisify(execFile);

// The durability level in Kubernetes: base redis.conf includes durability.conf
// (`appendfsync everysec`) from the ConfigMap redis-config before the per-environment overrides;
// the redis-durability-always component replaces it with `appendfsync always`. And the
// redis-backup component's NetworkPolicies: exactly one more connection (redis-backup ->
// redis:6379) and DNS for it. And how Redis's clients log in: one password (`requirepass`, base
// and dev) or the ACL users of the redis-acl component (prod), each a checked mode of the audit.

const tree = new RenderTree();
afterAll(() => tree.dispose());

const format = (findings: Finding[]): string =>
  findings.map((finding) => `  [${finding.rule}] ${finding.object}: ${finding.message}`).join('\n');

function redisConfig(objects: readonly K8sObject[]): Record<string, string> {
  const config = objects.find(
    (object) => object.kind === 'ConfigMap' && object.metadata.name.startsWith('redis-config'),
  ) as (K8sObject & { data?: Record<string, string> }) | undefined;
  if (!config?.data) throw new Error('no ConfigMap redis-config in the output');
  return config.data;
}

/** The directives of one redis config file, in order (comments and blank lines dropped). */
const directives = (text: string): string[] =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));

describe.each(TARGETS)('%s', (target) => {
  test('durability.conf (everysec) is mounted and included before the overrides', async () => {
    const objects = await tree.render(target);
    const data = redisConfig(objects);
    expect(directives(data['durability.conf'] ?? '')).toEqual(['appendfsync everysec']);
    const main = directives(data['redis.conf'] ?? '');
    expect(main.some((line) => line.startsWith('appendfsync'))).toBe(false);
    expect(main).toContain('repl-diskless-sync-delay 0');
    const durability = main.indexOf('include /etc/redis/durability.conf');
    expect(durability).toBeGreaterThanOrEqual(0);
    expect(main.indexOf('include /etc/redis/overrides.conf')).toBeGreaterThan(durability);
    const config = checkArchitecture(objects, expectationsFor(target, [])).filter(
      (finding) => finding.rule === 'redis/config',
    );
    expect(config, format(config)).toEqual([]);
  });

  test('with redis-durability-always: appendfsync always, the audit (expecting always) finds nothing', async () => {
    const objects = await tree.render(target, ['redis-durability-always']);
    const data = redisConfig(objects);
    expect(directives(data['durability.conf'] ?? '')).toEqual(['appendfsync always']);
    // Only the durability key changes: redis.conf and the overrides are the target's own.
    const plain = redisConfig(await tree.render(target));
    expect(data['redis.conf']).toBe(plain['redis.conf']);
    expect(data['overrides.conf']).toBe(plain['overrides.conf']);
    const findings = checkArchitecture(objects, expectationsFor(target, ['redis-durability-always']));
    expect(findings, format(findings)).toEqual([]);
    // The audit would notice the level not being what the target promises.
    const wrong = checkArchitecture(objects, expectationsFor(target, []));
    expect(wrong.map(format1)).toContain('redis/config: appendfsync is always, expected everysec');
    expect(podTemplates(objects).flatMap(checkPodSecurity)).toEqual([]);
  });
});

describe('one source of Redis settings: the files above', () => {
  test.each(LEVELS)(
    'deploy/redis/durability-%s.conf (npm start, test/durability) is what durability-levels.ts makes of them, byte for byte',
    (level) => {
      const committed = readFileSync(join(k8sDir, '../..', generatedPath(level)), 'utf8');
      expect(committed, 'run: npx tsx deploy/redis/durability-levels.ts').toBe(render(level));
    },
  );

  test("the generated files hold every setting of base/redis.conf but the server's place, and the level", () => {
    const everysec = directives(render('everysec'));
    const base = directives(readFileSync(join(k8sDir, '../..', SOURCES.settings), 'utf8'));
    for (const line of base.filter((line) =>
      /^(appendonly|appenddirname|aof-use|save|maxmemory-policy|repl-)/.test(line),
    ))
      expect(everysec).toContain(line);
    expect(everysec.filter((line) => /^(dir|include|bind|port) /.test(line))).toEqual([]);
    expect(everysec.at(-1)).toBe('appendfsync everysec');
    expect(directives(render('always')).at(-1)).toBe('appendfsync always');
  });
});

const format1 = (finding: Finding): string => `${finding.rule}: ${finding.message}`;

describe('redis-backup NetworkPolicies', () => {
  test.each(TARGETS.filter((target) => !includedComponents(target).includes('redis-backup')))(
    '%s + redis-acl + redis-backup allows exactly the architecture flows plus redis-backup -> redis:6379 and DNS',
    async (target) => {
      const objects = await tree.render(target, ['redis-acl', 'redis-backup']);
      const allowed = allowedFlowNames(connectionMatrix(objects, 'tasktier'));
      const withBackup = expectedFlows('tasktier', { backup: true }).map(flowName);
      expect(allowed).toEqual([...withBackup].sort());
      // Exactly three more than the architecture's flows, all from redis-backup.
      const added = withBackup.filter((flow) => !expectedFlows('tasktier').map(flowName).includes(flow));
      expect(added.sort()).toEqual([
        'tasktier/redis-backup -> kube-system/kube-dns:53/TCP',
        'tasktier/redis-backup -> kube-system/kube-dns:53/UDP',
        'tasktier/redis-backup -> tasktier/redis:6379/TCP',
      ]);
      // The expectations follow the component: the flow audit finds no unexpected or missing flow.
      const findings = checkArchitecture(objects, expectationsFor(target, ['redis-acl', 'redis-backup'])).filter(
        (finding) => finding.rule.startsWith('netpol/'),
      );
      expect(findings, format(findings)).toEqual([]);
      // Without the backup flows expected, the audit reports them as unexpected.
      const strict = checkArchitecture(objects, expectationsFor(target, [])).filter((finding) =>
        finding.rule.startsWith('netpol/'),
      );
      expect(strict.map(format1).sort()).toEqual(added.map((flow) => `netpol/unexpected-flow: allows ${flow}`).sort());
    },
  );
});

const AUTH_RULES =
  /^(redis\/(auth|acl|acl-secret|probe-auth|backend-user)|secrets\/(redis-password|consumers)|backup\/)/;

describe('Redis logins: requirepass (base, dev) and ACL users (redis-acl, in prod)', () => {
  test.each(TARGETS)('%s: the audit expects the mode the target includes', (target) => {
    const acl = includedComponents(target).includes('redis-acl');
    expect(expectationsFor(target, []).redis.auth).toBe(acl ? 'acl' : 'requirepass');
    expect(expectationsFor(target, ['redis-acl']).redis.auth).toBe('acl');
    expect(expectationsFor(target, []).backup).toBe(includedComponents(target).includes('redis-backup'));
    // prod is secure by default; base and dev keep the one-password setup of the kind walkthrough.
    expect(acl).toBe(target === 'overlays/prod');
  });

  test.each(TARGETS)(
    '%s with redis-acl and redis-backup (prod: as it is): Pod Security and the whole audit find nothing',
    async (target) => {
      const extra = ['redis-acl', 'redis-backup'].filter((name) => !includedComponents(target).includes(name));
      const objects = await tree.render(target, extra);
      expect(podTemplates(objects).flatMap(checkPodSecurity)).toEqual([]);
      const findings = checkArchitecture(objects, expectationsFor(target, extra));
      expect(findings, format(findings)).toEqual([]);
      // What makes it ACL mode, as the audit requires it.
      const redis = container(objects, 'StatefulSet', 'redis');
      expect(redis.command?.join(' ')).toMatch(/--aclfile \/etc\/redis-acl\/users\.acl$/);
      expect((redis.env ?? []).map((variable) => variable.name)).toEqual([]);
      const backend = container(objects, 'Deployment', 'backend');
      expect(backend.env).toContainEqual({ name: 'REDIS_USERNAME', value: 'backend' });
      expect(backend.env?.find((variable) => variable.name === 'REDIS_PASSWORD')?.valueFrom).toEqual({
        secretKeyRef: { name: 'redis-auth', key: 'password' },
      });
    },
  );

  test('each mode is really checked: prod audited as requirepass, and dev audited as ACL, both fail on the logins only', async () => {
    const prod = await tree.render('overlays/prod');
    const asRequirepass = expectationsFor('overlays/prod', []);
    asRequirepass.redis.auth = 'requirepass';
    const prodFindings = checkArchitecture(prod, asRequirepass);
    console.log(`prod audited as requirepass:\n${format(prodFindings)}`);
    expect([...new Set(prodFindings.map((finding) => finding.rule))].sort()).toEqual([
      'backup/user',
      'redis/auth',
      'redis/probe-auth',
      // Redis reads the ACL file (redis-acl/users.acl), which requirepass mode does not give it.
      'secrets/consumers',
      'secrets/redis-password',
    ]);
    const dev = await tree.render('overlays/dev');
    const asAcl = expectationsFor('overlays/dev', ['redis-acl']);
    const devFindings = checkArchitecture(dev, asAcl);
    console.log(`dev audited as ACL:\n${format(devFindings)}`);
    expect(devFindings.every((finding) => AUTH_RULES.test(finding.rule))).toBe(true);
    expect([...new Set(devFindings.map((finding) => finding.rule))].sort()).toEqual([
      'redis/acl',
      'redis/auth',
      'redis/backend-user',
      'redis/probe-auth',
      // Redis reads redis-auth/password, which in ACL mode only the backend may.
      'secrets/consumers',
    ]);
    // Without the redis-acl component, a backup CronJob has no user to log in as.
    const backupOnly = await tree.render('overlays/dev', ['redis-backup']);
    const backupFindings = checkArchitecture(backupOnly, expectationsFor('overlays/dev', ['redis-backup']));
    expect(backupFindings.map(format1)).toEqual([
      'backup/user: needs the redis-acl component: it logs in as the ACL user backup',
    ]);
  });

  test('the users the prod manifests log in as are in the generated ACL file, the default user is off', async () => {
    const acl = await generateAcl();
    const users = new Map(
      acl
        .trim()
        .split('\n')
        .map((line) => line.split(' '))
        .map(([keyword, name, ...rules]) => {
          expect(keyword).toBe('user');
          return [name!, rules] as const;
        }),
    );
    expect([...users.keys()].sort()).toEqual(['backend', 'backup', 'default', 'probe']);
    expect(users.get('default')).toContain('off');
    // probe: PING only, no password, so probes need no Secret.
    expect(users.get('probe')).toEqual(['on', 'nopass', 'resetkeys', 'resetchannels', '-@all', '+ping']);
    const objects = await tree.render('overlays/prod');
    const redis = container(objects, 'StatefulSet', 'redis');
    const backend = container(objects, 'Deployment', 'backend');
    const cronJob = findObject(objects, 'CronJob', 'redis-backup') as unknown as ICronJob;
    const backup = cronJob.spec!.jobTemplate.spec!.template.spec!.containers[0]!;
    const loginsUsed = new Set([
      envValue(backend, 'REDIS_USERNAME'),
      backup.args![backup.args!.indexOf('--user') + 1],
      ...[redis.startupProbe, redis.livenessProbe, redis.readinessProbe].map(
        (probe) => /--user (\S+)/.exec(probe!.exec!.command!.join(' '))?.[1],
      ),
    ]);
    expect([...loginsUsed].sort()).toEqual(['backend', 'backup', 'probe']);
    for (const user of loginsUsed) expect(users.get(user!), `${user} in the ACL file`).toContain('on');
    // The backend's keys: the ACL's prefix is the one the backend uses (its default, tt:).
    expect(envValue(backend, 'REDIS_KEY_PREFIX')).toBeUndefined();
    expect(users.get('backend')).toContain('~tt:*');
  });
});

/** deploy/redis/generate-acl with fresh random passwords, as the README tells a user to run it. */
async function generateAcl(): Promise<string> {
  const { stdout } = await execFileAsync(join(k8sDir, '..', 'redis', 'generate-acl'), [], {
    env: {
      PATH: process.env.PATH,
      REDIS_BACKEND_PASSWORD: randomBytes(24).toString('hex'),
      REDIS_BACKUP_PASSWORD: randomBytes(24).toString('hex'),
    },
  });
  return stdout;
}

const container = (objects: readonly K8sObject[], kind: 'Deployment' | 'StatefulSet', name: string): Container =>
  (findObject(objects, kind, name) as unknown as IDeployment | IStatefulSet).spec!.template.spec!.containers[0]!;
