import { allContainers, type Finding, type PodTemplate } from './types.ts';

/**
 * The Pod Security Standards, `restricted` profile (which includes `baseline`), checked rule by
 * rule as the Kubernetes documentation's page "Pod Security Standards" states them for
 * version `latest` (the namespace enforces `latest`). Rule names follow the checks of
 * k8s.io/pod-security-admission. Applies to containers, initContainers and ephemeralContainers.
 */
const PSS_RULES = [
  'baseline/hostProcess',
  'baseline/hostNamespaces',
  'baseline/privileged',
  'baseline/capabilities',
  'baseline/hostPathVolumes',
  'baseline/hostPorts',
  'baseline/appArmorProfile',
  'baseline/seLinuxOptions',
  'baseline/procMount',
  'baseline/seccompProfile',
  'baseline/sysctls',
  'restricted/volumeTypes',
  'restricted/allowPrivilegeEscalation',
  'restricted/runAsNonRoot',
  'restricted/runAsUser',
  'restricted/seccompProfile',
  'restricted/capabilities',
] as const;
type PssRule = (typeof PSS_RULES)[number];

const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const RESTRICTED_VOLUME_SOURCES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
const SECCOMP_RESTRICTED = new Set(['RuntimeDefault', 'Localhost']);
const APPARMOR_TYPES = new Set(['RuntimeDefault', 'Localhost']);

/** Violations of the restricted profile by one pod template; empty when it passes. */
export function checkPodSecurity(template: PodTemplate): Finding[] {
  const findings: Finding[] = [];
  const { spec } = template;
  const pod = spec.securityContext ?? {};
  const containers = allContainers(spec);
  const fail = (rule: PssRule, message: string): void => {
    findings.push({ rule: `pss/${rule}`, object: template.ref, message });
  };
  const where = (kind: string, name: string): string => `${template.path}.${kind}[${name}]`;

  // baseline
  if (pod.windowsOptions?.hostProcess) fail('baseline/hostProcess', 'pod securityContext.windowsOptions.hostProcess');
  for (const { kind, container } of containers) {
    if (container.securityContext?.windowsOptions?.hostProcess) {
      fail('baseline/hostProcess', `${where(kind, container.name)} windowsOptions.hostProcess is true`);
    }
  }
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (spec[field]) fail('baseline/hostNamespaces', `${template.path}.${field} is true`);
  }
  for (const { kind, container } of containers) {
    const context = container.securityContext ?? {};
    const name = where(kind, container.name);
    if (context.privileged) fail('baseline/privileged', `${name} securityContext.privileged is true`);
    for (const capability of context.capabilities?.add ?? []) {
      if (!BASELINE_CAPABILITIES.has(capability)) {
        fail('baseline/capabilities', `${name} adds capability ${capability}`);
      }
    }
    for (const port of container.ports ?? []) {
      if (port.hostPort) fail('baseline/hostPorts', `${name} port ${port.containerPort} has hostPort ${port.hostPort}`);
    }
    if (context.appArmorProfile && !APPARMOR_TYPES.has(context.appArmorProfile.type)) {
      fail('baseline/appArmorProfile', `${name} appArmorProfile.type is ${context.appArmorProfile.type}`);
    }
    const seLinux = context.seLinuxOptions;
    if (seLinux && (!SELINUX_TYPES.has(seLinux.type ?? '') || seLinux.user || seLinux.role)) {
      fail('baseline/seLinuxOptions', `${name} seLinuxOptions ${JSON.stringify(seLinux)}`);
    }
    if (context.procMount && context.procMount !== 'Default') {
      fail('baseline/procMount', `${name} procMount is ${context.procMount}`);
    }
    if (context.seccompProfile?.type === 'Unconfined') {
      fail('baseline/seccompProfile', `${name} seccompProfile.type is Unconfined`);
    }
  }
  for (const volume of spec.volumes ?? []) {
    if (volume.hostPath)
      fail('baseline/hostPathVolumes', `volume ${volume.name} is a hostPath (${volume.hostPath.path})`);
  }
  if (pod.appArmorProfile && !APPARMOR_TYPES.has(pod.appArmorProfile.type)) {
    fail('baseline/appArmorProfile', `pod appArmorProfile.type is ${pod.appArmorProfile.type}`);
  }
  for (const [key, value] of Object.entries(template.annotations)) {
    if (
      key.startsWith('container.apparmor.security.beta.kubernetes.io/') &&
      value !== 'runtime/default' &&
      !value.startsWith('localhost/')
    ) {
      fail('baseline/appArmorProfile', `annotation ${key}=${value}`);
    }
  }
  const podSeLinux = pod.seLinuxOptions;
  if (podSeLinux && (!SELINUX_TYPES.has(podSeLinux.type ?? '') || podSeLinux.user || podSeLinux.role)) {
    fail('baseline/seLinuxOptions', `pod seLinuxOptions ${JSON.stringify(podSeLinux)}`);
  }
  if (pod.seccompProfile?.type === 'Unconfined')
    fail('baseline/seccompProfile', 'pod seccompProfile.type is Unconfined');
  for (const sysctl of pod.sysctls ?? []) {
    if (!SAFE_SYSCTLS.has(sysctl.name)) fail('baseline/sysctls', `sysctl ${sysctl.name} is not in the safe set`);
  }

  // restricted
  for (const volume of spec.volumes ?? []) {
    const sources = Object.keys(volume).filter((key) => key !== 'name');
    // A volume with no source is defaulted to an emptyDir by the API server.
    const bad = sources.filter((source) => !RESTRICTED_VOLUME_SOURCES.has(source));
    if (bad.length > 0) fail('restricted/volumeTypes', `volume ${volume.name} is of type ${bad.join(', ')}`);
  }
  for (const { kind, container } of containers) {
    const context = container.securityContext ?? {};
    const name = where(kind, container.name);
    if (context.allowPrivilegeEscalation !== false) {
      fail('restricted/allowPrivilegeEscalation', `${name} must set securityContext.allowPrivilegeEscalation: false`);
    }
    if (context.runAsNonRoot === false) fail('restricted/runAsNonRoot', `${name} sets runAsNonRoot: false`);
    else if (pod.runAsNonRoot !== true && context.runAsNonRoot !== true) {
      fail('restricted/runAsNonRoot', `${name}: runAsNonRoot is true neither in the pod nor in the container`);
    }
    if (context.runAsUser === 0) fail('restricted/runAsUser', `${name} runs as UID 0`);
    const seccomp = context.seccompProfile?.type;
    if (seccomp !== undefined && !SECCOMP_RESTRICTED.has(seccomp)) {
      fail('restricted/seccompProfile', `${name} seccompProfile.type is ${seccomp}`);
    } else if (seccomp === undefined && !SECCOMP_RESTRICTED.has(pod.seccompProfile?.type ?? '')) {
      fail(
        'restricted/seccompProfile',
        `${name}: no RuntimeDefault/Localhost seccompProfile in the pod or the container`,
      );
    }
    if (!(context.capabilities?.drop ?? []).includes('ALL')) {
      fail('restricted/capabilities', `${name} must drop ALL capabilities`);
    }
    for (const capability of context.capabilities?.add ?? []) {
      if (capability !== 'NET_BIND_SERVICE') fail('restricted/capabilities', `${name} adds capability ${capability}`);
    }
  }
  if (pod.runAsUser === 0) fail('restricted/runAsUser', 'pod runs as UID 0');
  if (pod.seccompProfile?.type !== undefined && !SECCOMP_RESTRICTED.has(pod.seccompProfile.type)) {
    fail('restricted/seccompProfile', `pod seccompProfile.type is ${pod.seccompProfile.type}`);
  }
  return findings;
}
