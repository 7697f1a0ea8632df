import { posix } from 'node:path';
import type { ICronJob } from 'kubernetes-models/batch/v1/CronJob';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { ARCHITECTURE, type Expectations } from './expectations.ts';
import {
  type Add,
  checkImage,
  checkResources,
  checkSecurityContext,
  checkServiceAccount,
  checkTmp,
} from './pod-checks.ts';
import { allContainers, type Container, findObject, type K8sObject, type PodTemplate, ref } from './types.ts';

// How Redis's clients log in, in both modes the manifests support, and the backup CronJob.
// requirepass (base, dev): one password from the Secret redis-auth, which Redis reads on stdin and
// its probes and the backend send. acl (the redis-acl component, in prod): Redis loads its users
// from a file in the Secret redis-acl and holds no password at all; each client logs in as its own
// user: probes as `probe`, the backend as `backend`, the backup CronJob as `backup`.

const PROBES = ['startupProbe', 'livenessProbe', 'readinessProbe'] as const;
const { acl } = ARCHITECTURE;

/** Kubernetes' default mode for files of a Secret volume (0644). */
const DEFAULT_SECRET_MODE = 0o644;
const octal = (mode: number): string => `0${mode.toString(8)}`;

/** Redis's own login setup and its probes' logins, for the mode the target expects. */
export function checkRedisAuth(template: PodTemplate, container: Container, expected: Expectations, add: Add): void {
  if (expected.redis.auth === 'acl') checkAclServer(template, container, add);
  else checkRequirepassServer(template, container, add);
}

function commandLine(container: Container): string {
  return [...(container.command ?? []), ...(container.args ?? [])].join(' ');
}

function checkRequirepassServer(template: PodTemplate, container: Container, add: Add): void {
  const owner = template.ref;
  const command = commandLine(container);
  // Password: from the Secret into the server (not argv) and into every probe.
  const password = container.env?.find((variable) => variable.name === 'REDIS_PASSWORD');
  if (!password?.valueFrom?.secretKeyRef) add('redis/auth', owner, 'REDIS_PASSWORD must come from a Secret');
  if (!/requirepass \$\{?REDIS_PASSWORD/.test(command))
    add('redis/auth', owner, 'redis-server does not set requirepass from $REDIS_PASSWORD');
  if (/--aclfile/.test(command))
    add('redis/auth', owner, '--aclfile without the redis-acl component (its Secret is not documented here)');
  for (const kind of PROBES) {
    const probe = container[kind];
    const probeCommand = probe?.exec?.command?.join(' ') ?? '';
    if (!probe) add('probes/present', owner, `redis has no ${kind}`);
    else if (
      !/redis-cli/.test(probeCommand) ||
      !/ping/i.test(probeCommand) ||
      !/(REDISCLI_AUTH=|-a |--pass )"?\$\{?REDIS_PASSWORD/.test(probeCommand)
    ) {
      add(
        'redis/probe-auth',
        owner,
        `${kind} must PING with the password (REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping)`,
      );
    } else if (!/grep/.test(probeCommand)) {
      add('redis/probe-auth', owner, `${kind} must check the reply (redis-cli exits 0 on NOAUTH)`);
    }
  }
}

function checkAclServer(template: PodTemplate, container: Container, add: Add): void {
  const owner = template.ref;
  const command = commandLine(container);
  const aclFile = /--aclfile\s+(\S+)/.exec(command)?.[1];
  if (!aclFile)
    add('redis/acl', owner, 'redis-server is not started with --aclfile (the users of the Secret redis-acl)');
  else {
    checkSecretFile(template, container, aclFile, { secret: acl.secret, key: acl.fileKey }, 'redis/acl-secret', add);
  }
  // With an ACL file Redis checks hashes: it must not hold any password (the backend's would give
  // a process in the Redis container everything the backend may do), nor fall back to requirepass.
  if (/requirepass/.test(command))
    add('redis/auth', owner, 'redis-server sets requirepass: one shared password instead of the ACL users');
  for (const variable of container.env ?? []) {
    if (/PASSWORD|REDISCLI_AUTH/i.test(variable.name) || variable.valueFrom?.secretKeyRef) {
      add('redis/auth', owner, `env ${variable.name}: in ACL mode Redis needs no password (the ACL file has hashes)`);
    }
  }
  for (const source of container.envFrom ?? []) {
    if (source.secretRef)
      add('redis/auth', owner, `envFrom the Secret ${source.secretRef.name}: in ACL mode Redis needs no password`);
  }
  for (const kind of PROBES) {
    const probe = container[kind];
    const probeCommand = probe?.exec?.command?.join(' ') ?? '';
    if (!probe) add('probes/present', owner, `redis has no ${kind}`);
    else if (
      !/redis-cli/.test(probeCommand) ||
      !/ping/i.test(probeCommand) ||
      !new RegExp(`--user\\s+${acl.users.probe}\\b`).test(probeCommand)
    ) {
      add(
        'redis/probe-auth',
        owner,
        `${kind} must PING as the ACL user ${acl.users.probe} (redis-cli --user ${acl.users.probe} ping): the default user is off`,
      );
    } else if (/\$\{?REDIS_PASSWORD/.test(probeCommand)) {
      add('redis/probe-auth', owner, `${kind} uses $REDIS_PASSWORD, which Redis does not have in ACL mode`);
    } else if (!/grep/.test(probeCommand)) {
      add('redis/probe-auth', owner, `${kind} must check the reply (redis-cli exits 0 on NOAUTH and NOPERM)`);
    }
  }
}

/**
 * A file the container reads from a Secret: on a read-only mount of a Secret volume of `secret`,
 * `key` at that path, with a mode that lets the pod's group read it (the kubelet makes the files
 * root-owned with group fsGroup) and nobody else read it or anyone write it.
 */
function checkSecretFile(
  template: PodTemplate,
  container: Container,
  file: string,
  want: { secret: string; key: string },
  rule: string,
  add: Add,
): void {
  const where = `${template.ref} ${container.name}`;
  const mount = container.volumeMounts?.find((candidate) => file.startsWith(`${candidate.mountPath}/`));
  if (!mount) {
    add(rule, where, `${file} is on no mounted volume (expected the Secret ${want.secret})`);
    return;
  }
  if (mount.readOnly !== true) add(rule, where, `${mount.mountPath} is mounted writable (readOnly: true)`);
  const secret = template.spec.volumes?.find((volume) => volume.name === mount.name)?.secret;
  if (secret?.secretName !== want.secret) {
    add(
      rule,
      where,
      `${file} comes from ${secret ? `the Secret ${secret.secretName}` : 'no Secret'}, expected ${want.secret}`,
    );
    return;
  }
  const path = posix.relative(mount.mountPath, file);
  const item = secret.items?.find((candidate) => candidate.path === path);
  const key = secret.items ? item?.key : path;
  if (key !== want.key) add(rule, where, `${file} is key ${key ?? '(none)'} of ${want.secret}, expected ${want.key}`);
  const mode = item?.mode ?? secret.defaultMode ?? DEFAULT_SECRET_MODE;
  if ((mode & 0o007) !== 0) add(rule, where, `${file} has mode ${octal(mode)}: readable by every user (0440)`);
  if ((mode & 0o222) !== 0) add(rule, where, `${file} has mode ${octal(mode)}: writable (0440)`);
  if ((mode & 0o040) === 0) add(rule, where, `${file} has mode ${octal(mode)}: the pod's group cannot read it (0440)`);
}

/**
 * The backend's login in ACL mode: the user `backend`, its password from the Secret redis-auth
 * (the generated one with redis-secret-from-file). Literal passwords are secrets/literal.
 */
export function checkBackendLogin(template: PodTemplate | undefined, expected: Expectations, add: Add): void {
  if (!template || expected.redis.auth !== 'acl') return;
  const container = template.spec.containers.find((candidate) => candidate.name === 'backend');
  if (!container) return;
  const user = container.env?.find((variable) => variable.name === 'REDIS_USERNAME');
  if (user?.value !== acl.users.backend) {
    add(
      'redis/backend-user',
      template.ref,
      `REDIS_USERNAME is ${user?.value ?? (user ? 'not a literal' : 'unset')}: the backend must log in as the ACL user ${acl.users.backend} (the default user is off)`,
    );
  }
}

/** The redis-backup component's CronJob: only when the target includes it, then fully checked. */
export function checkBackup(
  objects: readonly K8sObject[],
  templates: PodTemplate[],
  expected: Expectations,
  add: Add,
): void {
  const cronJob = findObject(objects, 'CronJob', 'redis-backup') as (ICronJob & K8sObject) | undefined;
  const claim = findObject(objects, 'PersistentVolumeClaim', 'redis-backups') as
    | (IPersistentVolumeClaim & K8sObject)
    | undefined;
  if (!expected.backup) {
    for (const object of [cronJob, claim]) {
      if (object) add('backup/unexpected', ref(object), 'backup objects need the redis-backup component');
    }
    return;
  }
  if (!cronJob) {
    add('backup/exists', 'CronJob/redis-backup', 'is not in the output');
    return;
  }
  const owner = ref(cronJob);
  if (expected.redis.auth !== 'acl')
    add('backup/user', owner, 'needs the redis-acl component: it logs in as the ACL user backup');
  const spec = cronJob.spec!;
  if (spec.concurrencyPolicy !== 'Forbid')
    add('backup/schedule', owner, `concurrencyPolicy ${spec.concurrencyPolicy ?? 'Allow'}: two backups would overlap`);
  if (spec.suspend === true) add('backup/schedule', owner, 'is suspended');
  if (spec.startingDeadlineSeconds === undefined)
    add('backup/schedule', owner, 'startingDeadlineSeconds unset: after 100 missed runs the CronJob stops for good');
  const template = templates.find((candidate) => candidate.owner === cronJob);
  const container = template?.spec.containers[0];
  if (!template || !container || template.spec.containers.length !== 1) {
    add('workloads/containers', owner, 'must have exactly one container');
    return;
  }
  if (template.labels['app.kubernetes.io/name'] !== 'redis-backup')
    add('labels/selector', owner, 'pods need app.kubernetes.io/name=redis-backup (its NetworkPolicies select it)');
  if (!['Never', 'OnFailure'].includes(template.spec.restartPolicy ?? 'Always'))
    add(
      'backup/job',
      owner,
      `restartPolicy ${template.spec.restartPolicy ?? 'Always'} (a Job needs Never or OnFailure)`,
    );
  const deadline = spec.jobTemplate.spec?.activeDeadlineSeconds;
  if (deadline === undefined)
    add('backup/job', owner, 'no activeDeadlineSeconds: a hung backup blocks every later one');
  checkImage(container, expected.redis.image, owner, add);
  checkResources(template, add);
  checkSecurityContext(template, expected.redisUid, expected.redisGid, add);
  checkServiceAccount(objects, template, 'redis-backup', add);
  checkTmp(template, add);
  if (template.spec.enableServiceLinks !== false)
    add('env/service-links', owner, 'enableServiceLinks must be false (no injected *_PORT variables)');

  const args = [...(container.command ?? []), ...(container.args ?? [])];
  // The script takes the last of a repeated option: read that one, and report the repetition (a
  // second --user appended by a patch would otherwise hide behind the first).
  const option = (name: string): string | undefined => {
    const index = args.lastIndexOf(name);
    return index >= 0 ? args[index + 1] : undefined;
  };
  const options = args.filter((arg) => arg.startsWith('--'));
  for (const name of new Set(options.filter((arg, index) => options.indexOf(arg) !== index))) {
    add('backup/args', owner, `${name} is given more than once (the script uses the last: ${option(name)})`);
  }
  if (option('--host') !== 'redis' || option('--port') !== String(expected.redis.port))
    add(
      'backup/target',
      owner,
      `backs up ${option('--host')}:${option('--port')}, expected redis:${expected.redis.port}`,
    );
  if (option('--user') !== acl.users.backup)
    add('backup/user', owner, `logs in as ${option('--user') ?? 'default'}, expected the ACL user ${acl.users.backup}`);
  const passwordFile = option('--password-file');
  if (!passwordFile)
    add('backup/secret', owner, 'no --password-file (the password must come from the Secret redis-acl)');
  else {
    checkSecretFile(
      template,
      container,
      passwordFile,
      { secret: acl.secret, key: acl.backupPasswordKey },
      'backup/secret',
      add,
    );
  }
  for (const { container: each } of allContainers(template.spec)) {
    for (const variable of each.env ?? []) {
      if (/PASSWORD|REDISCLI_AUTH/i.test(variable.name))
        add('backup/secret', owner, `env ${variable.name}: the password is read from a file, not the environment`);
    }
  }
  const dir = option('--dir');
  const mount = container.volumeMounts?.find((candidate) => candidate.mountPath === dir);
  const volume = template.spec.volumes?.find((candidate) => candidate.name === mount?.name);
  const claimName = volume?.persistentVolumeClaim?.claimName;
  if (!dir || !mount || !claimName || mount.readOnly) {
    add('backup/volume', owner, `--dir ${dir ?? '(none)'} must be a writable mount of a PersistentVolumeClaim`);
  } else if (claimName !== claim?.metadata.name) {
    add('backup/volume', owner, `claim ${claimName} is not in the output`);
  } else if (!claim.spec?.accessModes?.includes('ReadWriteOnce') || !claim.spec.resources?.requests?.storage) {
    add('backup/volume', ref(claim), 'needs ReadWriteOnce and a storage request');
  }
  const keep = Number(option('--keep'));
  if (!Number.isInteger(keep) || keep < 2)
    add('backup/retention', owner, `--keep ${option('--keep')}: keep at least 2`);
}
