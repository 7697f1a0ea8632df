import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { entryTlsSecrets } from './certificate.ts';
import { ARCHITECTURE, type Expectations } from './expectations.ts';
import type { Add } from './pod-checks.ts';
import { allContainers, findObject, type K8sObject, type PodTemplate, podTemplates } from './types.ts';

// Which pod may read which Secret key, and which pod may mount Redis's data. A pod that can read a
// key has it (env or file, `kubectl exec` or a compromise of that pod), so every reference counts:
// a whole Secret (envFrom, a volume without items) gives every key it has or will ever get.

/** Every key of a Secret: envFrom and volumes without items. */
const ALL_KEYS = '*';

export interface SecretReference {
  container?: string;
  /** How the pod reads it, for messages. */
  via: string;
  secret: string;
  key: string;
}

/** Every Secret reference of one pod template: env, envFrom, secret and projected volumes. */
function secretReferences(template: PodTemplate): SecretReference[] {
  const found: SecretReference[] = [];
  for (const { container } of allContainers(template.spec)) {
    for (const variable of container.env ?? []) {
      const selector = variable.valueFrom?.secretKeyRef;
      if (selector)
        found.push({
          container: container.name,
          via: `env ${variable.name}`,
          secret: selector.name ?? '',
          key: selector.key,
        });
    }
    for (const source of container.envFrom ?? []) {
      if (source.secretRef)
        found.push({ container: container.name, via: 'envFrom', secret: source.secretRef.name ?? '', key: ALL_KEYS });
    }
  }
  for (const volume of template.spec.volumes ?? []) {
    const sources = [
      ...(volume.secret ? [{ name: volume.secret.secretName ?? '', items: volume.secret.items }] : []),
      ...(volume.projected?.sources ?? []).flatMap((source) =>
        source.secret ? [{ name: source.secret.name ?? '', items: source.secret.items }] : [],
      ),
    ];
    for (const source of sources) {
      const keys = source.items ? source.items.map((item) => item.key) : [ALL_KEYS];
      for (const key of keys) found.push({ via: `volume ${volume.name}`, secret: source.name, key });
    }
  }
  return found;
}

/** The pod a template makes, by its app.kubernetes.io/name (Rollouts and copies keep it). */
const podName = (template: PodTemplate): string =>
  template.labels['app.kubernetes.io/name'] ?? template.owner.metadata.name;

/**
 * The Secret keys each pod may read, per login mode. requirepass: Redis and the backend share
 * redis-auth/password. acl: the backend has its password (redis-auth/password), Redis the ACL file
 * of hashes (redis-acl/users.acl), the backup its password (redis-acl/backup-password). The backup
 * key is allowed whenever the target has backups: without redis-acl, backup/user reports it.
 */
function allowedSecretKeys(objects: readonly K8sObject[], expected: Expectations): Map<string, Set<string>> {
  const { acl } = ARCHITECTURE;
  // redis-secret-from-file renames redis-auth to its generated, hashed name in every reference.
  const generated = expected.secretFromFile
    ? objects.find((object) => object.kind === 'Secret' && /^redis-auth-[a-z0-9]{10}$/.test(object.metadata.name))
    : undefined;
  const password = `${generated?.metadata.name ?? 'redis-auth'}/password`;
  const allowed = new Map<string, Set<string>>([['frontend', new Set()]]);
  if (expected.redis.auth === 'acl') {
    allowed.set('backend', new Set([password]));
    allowed.set('redis', new Set([`${acl.secret}/${acl.fileKey}`]));
  } else {
    allowed.set('backend', new Set([password]));
    allowed.set('redis', new Set([password]));
  }
  if (expected.backup) allowed.set('redis-backup', new Set([`${acl.secret}/${acl.backupPasswordKey}`]));
  // The monitoring component's redis_exporter sidecar logs in with a Secret of its own (never the
  // backend's password): redis-exporter-auth, keys username and password.
  if (expected.monitoring) {
    for (const key of ['username', 'password']) allowed.get('redis')?.add(`redis-exporter-auth/${key}`);
  }
  return allowed;
}

/** secrets/consumers: every Secret reference of every pod is on the allow-list, nothing else. */
export function checkSecretConsumers(objects: readonly K8sObject[], expected: Expectations, add: Add): void {
  const allowed = allowedSecretKeys(objects, expected);
  const tlsSecrets = new Set(entryTlsSecrets(objects));
  for (const template of podTemplates(objects)) {
    const pod = podName(template);
    const keys = allowed.get(pod) ?? new Set<string>();
    for (const reference of secretReferences(template)) {
      const where = reference.container ? `${reference.container} ${reference.via}` : reference.via;
      const what =
        reference.key === ALL_KEYS
          ? `the whole Secret ${reference.secret} (every key)`
          : `Secret ${reference.secret} key ${reference.key}`;
      if (tlsSecrets.has(reference.secret)) {
        add(
          'secrets/consumers',
          template.ref,
          `${where} reads ${what}: the entry's TLS key is for the ingress controller or gateway only`,
        );
      } else if (!keys.has(`${reference.secret}/${reference.key}`)) {
        const may = [...keys].join(', ') || 'no Secret';
        add('secrets/consumers', template.ref, `${where} reads ${what}; pod ${pod} may read ${may}`);
      }
    }
  }
}

/**
 * redis/data-claim: only Redis mounts its data. Another pod with the claim could change or delete
 * the store (the AOF) under a running Redis; backups take a snapshot over the network instead.
 */
export function checkDataClaimConsumers(objects: readonly K8sObject[], add: Add): void {
  const statefulSet = findObject(objects, 'StatefulSet', 'redis') as (IStatefulSet & K8sObject) | undefined;
  const claimTemplates = (statefulSet?.spec?.volumeClaimTemplates ?? []).map((claim) => claim.metadata?.name ?? '');
  // Claims of a StatefulSet are <template>-<set>-<ordinal>: data-redis-0.
  const patterns = [...new Set([...claimTemplates, 'data'])].map((name) => new RegExp(`^${name}-redis-\\d+$`));
  for (const template of podTemplates(objects)) {
    if (template.owner === statefulSet) continue;
    for (const volume of template.spec.volumes ?? []) {
      const claimName = volume.persistentVolumeClaim?.claimName ?? '';
      if (patterns.some((pattern) => pattern.test(claimName))) {
        add(
          'redis/data-claim',
          template.ref,
          `volume ${volume.name} mounts Redis's data claim ${claimName}${volume.persistentVolumeClaim?.readOnly ? ' (even read-only)' : ''}: only Redis may`,
        );
      }
    }
  }
}

/** Redis options that open it up: `--opt value` on its command line or a directive in redis.conf. */
const DANGEROUS: { directive: string; value: RegExp; why: string }[] = [
  { directive: 'protected-mode', value: /^no$/i, why: 'turns off protected mode' },
  {
    directive: 'enable-debug-command',
    value: /^(yes|local)$/i,
    why: 'enables DEBUG (crash, change or dump the server)',
  },
  {
    directive: 'rename-command',
    value: /./,
    why: 'renames a command (the ACL users and the audit know them by their names)',
  },
];

/** redis/dangerous-option: on the command line (argv, a shell script, a stdin config) and in the config. */
export function checkDangerousOptions(
  commandLine: string,
  config: ReadonlyMap<string, string> | undefined,
  owner: string,
  add: Add,
): void {
  for (const { directive, value, why } of DANGEROUS) {
    // `--directive value` as arguments, or `directive value` on a line of an inline config.
    const pattern = new RegExp(`(?:^|\\s)(?:--)?${directive}\\s+["']?([^\\s"']+)`, 'gim');
    for (const match of commandLine.matchAll(pattern)) {
      if (value.test(match[1]!))
        add('redis/dangerous-option', owner, `redis-server ${directive} ${match[1]} on its command line ${why}`);
    }
    const configured = config?.get(directive);
    if (configured !== undefined && value.test(configured))
      add('redis/dangerous-option', owner, `redis.conf ${directive} ${configured} ${why}`);
  }
}
