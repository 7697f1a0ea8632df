import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseQuantity, qosClass } from './quantity.ts';
import { allContainers, type Container, findObject, type K8sObject, type PodTemplate, ref } from './types.ts';

// Checks every workload's pod template gets, the apps', Redis's and the backup CronJob's alike.

/** Reports one finding: the rule it breaks, the object, what is wrong. */
export type Add = (rule: string, object: string, message: string) => void;

export function checkResources(template: PodTemplate, add: Add): void {
  for (const { container } of allContainers(template.spec)) {
    const requests = container.resources?.requests ?? {};
    const limits = container.resources?.limits ?? {};
    for (const resource of ['cpu', 'memory']) {
      const request = requests[resource];
      const limit = limits[resource];
      if (request === undefined)
        add('resources/requests', template.ref, `${container.name} has no ${resource} request`);
      if (limit === undefined) add('resources/limits', template.ref, `${container.name} has no ${resource} limit`);
      if (request !== undefined && limit !== undefined && parseQuantity(request) > parseQuantity(limit)) {
        add(
          'resources/limits',
          template.ref,
          `${container.name} ${resource} request ${request} is above its limit ${limit}`,
        );
      }
    }
  }
  const qos = qosClass(template.spec);
  if (qos !== 'Burstable') add('resources/qos', template.ref, `QoS class is ${qos}, the architecture says Burstable`);
}

export function checkSecurityContext(template: PodTemplate, uid: number, gid: number, add: Add): void {
  const pod = template.spec.securityContext ?? {};
  if (pod.runAsNonRoot !== true) add('security/pod', template.ref, 'pod securityContext.runAsNonRoot must be true');
  if (pod.runAsUser !== uid) add('security/uid', template.ref, `pod runs as UID ${pod.runAsUser}, expected ${uid}`);
  if (pod.runAsGroup !== gid) add('security/gid', template.ref, `pod runs as GID ${pod.runAsGroup}, expected ${gid}`);
  if (pod.fsGroup !== gid) add('security/gid', template.ref, `pod fsGroup is ${pod.fsGroup}, expected ${gid}`);
  if (pod.seccompProfile?.type !== 'RuntimeDefault') {
    add('security/pod', template.ref, 'pod seccompProfile.type must be RuntimeDefault');
  }
  for (const { container } of allContainers(template.spec)) {
    const context = container.securityContext ?? {};
    const name = `${template.ref} ${container.name}`;
    if (context.readOnlyRootFilesystem !== true)
      add('security/read-only-root', name, 'readOnlyRootFilesystem must be true');
    if (context.allowPrivilegeEscalation !== false)
      add('security/container', name, 'allowPrivilegeEscalation must be false');
    if (context.privileged === true) add('security/container', name, 'must not be privileged');
    if (context.runAsNonRoot !== true) add('security/container', name, 'runAsNonRoot must be true');
    if (context.runAsUser !== undefined && context.runAsUser !== uid) {
      add('security/uid', name, `runs as UID ${context.runAsUser}, expected ${uid}`);
    }
    if (context.runAsGroup !== undefined && context.runAsGroup !== gid) {
      add('security/gid', name, `runs as GID ${context.runAsGroup}, expected ${gid}`);
    }
    const drop = context.capabilities?.drop ?? [];
    if (!drop.includes('ALL') || (context.capabilities?.add ?? []).length > 0) {
      add('security/capabilities', name, 'must drop ALL capabilities and add none');
    }
    if (context.seccompProfile && context.seccompProfile.type !== 'RuntimeDefault') {
      add('security/container', name, `seccompProfile.type is ${context.seccompProfile.type}`);
    }
  }
}

export function checkServiceAccount(
  objects: readonly K8sObject[],
  template: PodTemplate,
  name: string,
  add: Add,
): void {
  const spec = template.spec;
  if (spec.serviceAccountName !== name) {
    add(
      'serviceaccount/own',
      template.ref,
      `uses ServiceAccount ${spec.serviceAccountName ?? 'default'}, expected its own (${name})`,
    );
  }
  const account = findObject(objects, 'ServiceAccount', spec.serviceAccountName ?? 'default') as
    | (IServiceAccount & K8sObject)
    | undefined;
  if (!account)
    add('serviceaccount/own', template.ref, `ServiceAccount ${spec.serviceAccountName} is not in the output`);
  else if (account.automountServiceAccountToken !== false) {
    add('serviceaccount/token', ref(account), 'automountServiceAccountToken must be false');
  }
  if (spec.automountServiceAccountToken !== false) {
    add('serviceaccount/token', template.ref, 'pod automountServiceAccountToken must be false');
  }
}

export function checkTmp(template: PodTemplate, add: Add): void {
  const emptyDirs = new Set(
    (template.spec.volumes ?? []).filter((volume) => volume.emptyDir).map((volume) => volume.name),
  );
  for (const { container } of allContainers(template.spec)) {
    const mount = container.volumeMounts?.find((candidate) => candidate.mountPath === '/tmp');
    if (!mount || !emptyDirs.has(mount.name)) {
      add(
        'volumes/tmp',
        template.ref,
        `${container.name} needs an emptyDir at /tmp (the root filesystem is read-only)`,
      );
    }
  }
}

export function checkImage(container: Container, expectedImage: string, owner: string, add: Add): void {
  if (container.image !== expectedImage)
    add('images/name', owner, `image is ${container.image}, expected ${expectedImage}`);
  if (container.imagePullPolicy !== 'IfNotPresent') {
    add(
      'images/pull-policy',
      owner,
      `imagePullPolicy is ${container.imagePullPolicy ?? '(default)'}, expected IfNotPresent`,
    );
  }
}
