import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '@tasktier/testkit';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { type Container, type K8sObject, type PodSpec, podTemplates } from './types.ts';

const execFileAsync = promisify(execFile);

/** Marks what a run of the podman test created, so a later run can clean up after a crashed one. */
export const TEST_LABEL = 'org.tasktier.k8s-test';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; never throws on a non-zero exit (the caller decides). */
export async function run(
  command: string,
  args: string[],
  timeoutMs = 120_000,
  env?: Record<string, string>,
): Promise<RunResult> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, {
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; message?: string };
    if (typeof failed.code !== 'number') {
      // Not started at all (ENOENT: not installed) or killed by the timeout.
      return {
        code: 127,
        stdout: failed.stdout ?? '',
        stderr: `${failed.message ?? String(error)} ${failed.stderr ?? ''}`.trim(),
      };
    }
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

export const podman = (...args: string[]): Promise<RunResult> => run('podman', args);

/** Fails with podman's own message when a podman command does not succeed. */
export async function podmanOk(...args: string[]): Promise<string> {
  const result = await podman(...args);
  if (result.code !== 0) throw new Error(`podman ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** Why the podman test cannot run here, or undefined when it can. */
/**
 * Builds the stand-in base images and the real images (as `npm run images` does) when podman works
 * but an image is missing, so a fresh machine runs this suite without a separate build step.
 */
export async function buildMissingImages(images: readonly string[]): Promise<void> {
  if ((await run('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'])).code !== 0) return;
  const missing: string[] = [];
  for (const image of images) {
    if (image.startsWith('tasktier/') && (await podman('image', 'exists', image)).code !== 0) missing.push(image);
  }
  if (missing.length === 0) return;
  process.stdout.write(`[k8s/podman] building ${missing.join(', ')} (stand-in bases, then npm run images)\n`);
  for (const script of [['no-registry/standin-base-images.ts'], ['scripts/build-images.ts', '--quiet']]) {
    const result = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', ...script], { cwd: repoRoot, stdio: 'inherit' });
      child.once('exit', resolve);
      child.once('error', () => resolve(-1));
    });
    if (result !== 0) throw new Error(`${script[0]} failed (exit ${result}) while building the images`);
  }
}

export async function podmanUnavailable(images: readonly string[]): Promise<string | undefined> {
  const info = await run('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}']);
  if (info.code === 127 && /ENOENT/.test(info.stderr))
    return 'podman is not installed (no-registry/setup-podman.sh installs it)';
  if (info.code !== 0) return `podman does not work here: ${info.stderr.trim().split('\n')[0]}`;
  const missing: string[] = [];
  for (const image of images) {
    if ((await podman('image', 'exists', image)).code !== 0) missing.push(image);
  }
  if (missing.length > 0) return `image(s) not built: ${missing.join(', ')} (npm run images)`;
  return undefined;
}

/**
 * Takes /tmp/tasktier-heavy.lock (shared with the other heavy suites) for as long as the returned
 * release function is not called: a `flock` child holds it until its stdin closes.
 */
export async function acquireHeavyLock(path = '/tmp/tasktier-heavy.lock'): Promise<() => void> {
  const child = spawn('flock', ['-x', path, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`flock exited (${code}) before taking ${path}`)));
    child.stdout.once('data', () => resolve());
  });
  return () => {
    child.stdin.end();
  };
}

export interface PodmanKube {
  /**
   * The claims (the StatefulSets' and standalone ones), then the pods of the long-running
   * workloads (one per workload: podman plays one replica).
   */
  documents: K8sObject[];
  /**
   * One pod per CronJob, restartPolicy Never, NOT in `documents`: a CronJob's pod runs on its
   * schedule, not when the manifests are applied (played with the rest, the backup would run
   * before Redis is up). The caller plays it (`podman kube play`) when it wants one run.
   */
  runOnce: K8sObject[];
  configMaps: K8sObject[];
}

/**
 * What the cluster would run, as `podman kube play` input: each Deployment and StatefulSet's pod
 * template becomes one Pod named after the workload (so the Service names resolve on the podman
 * network), a StatefulSet's volumeClaimTemplates become the PersistentVolumeClaims its controller
 * would create (`<template>-<name>-0`), and a CronJob's pod template one Pod to run once (see
 * `runOnce`). The pod specs are otherwise unchanged, security contexts
 * included. Test-only changes: `hostPorts` publishes chosen container ports on 127.0.0.1 (so the
 * test can probe like the kubelet and send a request like the Ingress), emptyDir volumes and
 * claims get names unique to the run, and a label marks what the run created.
 */
export function toPodmanKube(
  objects: readonly K8sObject[],
  hostPorts: Record<string, number>,
  runId: string,
  secrets?: SecretFiles,
): PodmanKube {
  const claims: K8sObject[] = [];
  const pods: K8sObject[] = [];
  const runOnce: K8sObject[] = [];
  // Standalone claims (the backups' redis-backups) under names unique to the run.
  const claimNames = new Map<string, string>();
  for (const claim of objects.filter((object) => object.kind === 'PersistentVolumeClaim')) {
    const claimName = `${claim.metadata.name}-${runId}`;
    claimNames.set(claim.metadata.name, claimName);
    claims.push({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: claimName, labels: { [TEST_LABEL]: runId } },
      spec: structuredClone(claim.spec),
    });
  }
  for (const template of podTemplates(objects)) {
    const name = template.owner.metadata.name;
    const spec = structuredClone(template.spec) as PodSpec;
    for (const volume of spec.volumes ?? []) {
      const renamed = volume.persistentVolumeClaim && claimNames.get(volume.persistentVolumeClaim.claimName);
      if (renamed) volume.persistentVolumeClaim!.claimName = renamed;
    }
    if (secrets) materializeSecretVolumes(name, spec, secrets);
    if (template.owner.kind === 'StatefulSet') {
      for (const claim of (template.owner as unknown as IStatefulSet).spec?.volumeClaimTemplates ?? []) {
        const claimName = `${claim.metadata?.name}-${name}-0-${runId}`;
        claims.push({
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: claimName, labels: { [TEST_LABEL]: runId } },
          spec: structuredClone((claim as IPersistentVolumeClaim).spec),
        });
        spec.volumes = [...(spec.volumes ?? []), { name: claim.metadata!.name!, persistentVolumeClaim: { claimName } }];
      }
    }
    // podman 4.3 plays an emptyDir as a named volume called after the pod's volume, shared by
    // every pod that uses the same name (Kubernetes gives each pod its own): make the names unique.
    for (const volume of spec.volumes ?? []) {
      if (!volume.emptyDir) continue;
      const unique = `${runId}-${name}-${volume.name}`;
      for (const container of spec.containers) {
        for (const mount of container.volumeMounts ?? []) if (mount.name === volume.name) mount.name = unique;
      }
      volume.name = unique;
    }
    for (const container of spec.containers) {
      for (const port of container.ports ?? []) {
        const hostPort = hostPorts[`${name}/${port.containerPort}`];
        if (hostPort) Object.assign(port, { hostPort, hostIP: '127.0.0.1' });
      }
    }
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { ...template.labels, [TEST_LABEL]: runId } },
    };
    if (template.owner.kind === 'CronJob') runOnce.push({ ...pod, spec: { ...spec, restartPolicy: 'Never' } });
    else pods.push({ ...pod, spec: { ...spec, restartPolicy: 'Always' } });
  }
  return {
    documents: [...claims, ...pods],
    runOnce,
    configMaps: objects.filter((object) => object.kind === 'ConfigMap'),
  };
}

/** Secret volumes' contents for podman (by Secret name, then key), written under `dir`. */
export interface SecretFiles {
  dir: string;
  data: Record<string, Record<string, string>>;
}

/**
 * podman 4.3 panics on a `secret` volume (kube.VolumeFromSecret is called without a secrets
 * manager), so each one becomes a read-only bind mount of a directory holding what the kubelet
 * would write: the chosen keys (`items`, or all) at their paths, owned by root with the pod's
 * fsGroup as group, with the volume's modes. The mounts (paths, readOnly) stay as written.
 */
function materializeSecretVolumes(pod: string, spec: PodSpec, secrets: SecretFiles): void {
  const fsGroup = spec.securityContext?.fsGroup;
  for (const volume of spec.volumes ?? []) {
    const source = volume.secret;
    if (!source) continue;
    const data = secrets.data[source.secretName ?? ''];
    if (!data) throw new Error(`${pod}: no data for the Secret ${source.secretName} (volume ${volume.name})`);
    const dir = join(secrets.dir, `${pod}-${volume.name}`);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    const items = source.items ?? Object.keys(data).map((key) => ({ key, path: key, mode: undefined }));
    for (const item of items) {
      const content = data[item.key];
      if (content === undefined) throw new Error(`${pod}: the Secret ${source.secretName} has no key ${item.key}`);
      const file = join(dir, item.path);
      writeFileSync(file, content, { mode: 0o600 });
      if (process.getuid?.() === 0 && fsGroup !== undefined) chownSync(file, 0, fsGroup);
      chmodSync(file, item.mode ?? source.defaultMode ?? 0o644);
    }
    delete volume.secret;
    volume.hostPath = { path: dir, type: 'Directory' };
  }
}

/** podman names a played pod's container `<pod>-<container>`. */
export const containerName = (pod: string, container: string): string => `${pod}-${container}`;

export interface ProcessStatus {
  pid: number;
  comm: string;
  cmdline: string;
  uid: number[];
  gid: number[];
  capEff: string;
  capBnd: string;
  noNewPrivs: string;
  seccomp: string;
}

/** The container's main process as the host kernel sees it (/proc/<pid>/status), no tools needed in the image. */
export async function processStatus(container: string): Promise<ProcessStatus> {
  const pid = Number((await podmanOk('inspect', '--format', '{{.State.Pid}}', container)).trim());
  if (!pid) throw new Error(`${container} has no running process`);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  return {
    pid,
    comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(),
    cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim(),
    uid: field('Uid').split(/\s+/).map(Number),
    gid: field('Gid').split(/\s+/).map(Number),
    capEff: field('CapEff'),
    capBnd: field('CapBnd'),
    noNewPrivs: field('NoNewPrivs'),
    seccomp: field('Seccomp'),
  };
}

/**
 * Runs one probe once, as the kubelet does: httpGet from outside the container (here through the
 * 127.0.0.1 host port, success is a status in 200-399) or exec inside it (success is exit 0).
 */
export async function probeOnce(
  probe: IProbe,
  podName: string,
  container: Container,
  hostPortOf: (containerPort: number) => number | undefined,
): Promise<{ ok: boolean; detail: string }> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const target =
      typeof probe.httpGet.port === 'number'
        ? probe.httpGet.port
        : container.ports?.find((port) => port.name === probe.httpGet!.port)?.containerPort;
    const hostPort = target === undefined ? undefined : hostPortOf(target);
    if (hostPort === undefined) return { ok: false, detail: `port ${probe.httpGet.port} is not published` };
    try {
      const response = await fetch(`http://127.0.0.1:${hostPort}${probe.httpGet.path ?? '/'}`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.arrayBuffer();
      return { ok: response.status >= 200 && response.status < 400, detail: `HTTP ${response.status}` };
    } catch (error) {
      return { ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
  }
  if (probe.exec?.command) {
    const result = await run(
      'podman',
      ['exec', containerName(podName, container.name), ...probe.exec.command],
      timeoutMs + 5000,
    );
    return { ok: result.code === 0, detail: `exit ${result.code} ${result.stderr.trim()}`.trim() };
  }
  return { ok: false, detail: 'unsupported probe type' };
}
