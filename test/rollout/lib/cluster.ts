import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  getFreePort,
  type Proc,
  type RedisServer,
  serviceScriptPath,
  spawnProcess,
  startRedis,
  waitFor,
} from '@tasktier/testkit';
import { type Ingress, type Routes, startIngress } from './nginx.ts';

/**
 * The cluster stand-in: what Kubernetes does during a rollout, played by processes on this machine.
 *  - a replica is a process of the production build (services/<tier>/dist/server.js), a "pod";
 *  - the kubelet probes its /readyz, restarts it when it dies (same port, as a restarted container
 *    keeps its pod's address) and, on termination, sends SIGTERM and SIGKILL after the grace period;
 *  - the endpoints controller takes a replica out of the endpoints the moment it is terminating or
 *    not ready, and puts it in when ready; the change reaches the Ingress (and kube-proxy) after a
 *    propagation delay, then nginx is reloaded (ingress-nginx applies endpoint changes itself);
 *  - the Deployment controller rolls replicas one at a time with maxSurge 1 and maxUnavailable 0,
 *    and a progress deadline after which the rollout counts as failed.
 *
 * Timings are the manifests' where they decide correctness (drain, shutdown timeout, grace period)
 * and shorter where they only decide how long the suite runs (probe period, minReadySeconds,
 * progress deadline, crash back-off). What must hold between them holds in both:
 * propagation < minReady, propagation + reload < drain, drain + longest request < grace.
 */
export const TIMING = {
  /** DRAIN_DELAY_MS in deploy/k8s/base (5 s). */
  drainDelayMs: 5000,
  /** SHUTDOWN_TIMEOUT_MS in deploy/k8s/base (10 s). */
  shutdownTimeoutMs: 10_000,
  /** terminationGracePeriodSeconds (30 s). */
  terminationGraceMs: 30_000,
  /** Endpoint change -> the Ingress's and kube-proxy's view (measured ~1 s in clusters; then a reload here). */
  propagationMs: 1000,
  /** readinessProbe periodSeconds (5 s in the manifests; 1 s here so the suite is short). */
  probePeriodMs: 1000,
  probeTimeoutMs: 1000,
  /** readinessProbe failureThreshold. */
  probeFailureThreshold: 2,
  /** minReadySeconds (5 s in the manifests): longer than the propagation delay in both. */
  minReadyMs: 2000,
  /** progressDeadlineSeconds (120 s in the manifests). */
  progressDeadlineMs: 12_000,
  /** The kubelet's crash back-off (10 s doubling up to 5 min in Kubernetes). */
  crashBackoffMs: [0, 1000, 2000, 4000, 8000],
} as const;

export type Tier = 'frontend' | 'backend';
export type Slot = 'blue' | 'green';
export const otherSlot = (slot: Slot): Slot => (slot === 'blue' ? 'green' : 'blue');

/** A version of the app: what APP_VERSION says, and the environment that makes it good or bad. */
export interface Release {
  version: string;
  /** Extra environment per tier (a bad release is a bad configuration here). */
  env?: Partial<Record<Tier, Record<string, string>>>;
}

export interface ReplicaEvent {
  at: number;
  what: string;
}

let replicaCounter = 0;
/** How much of a replica's output is kept (for the summary of a replica that failed). */
const OUTPUT_KEPT = 64 * 1024;

export class Replica {
  readonly name: string;
  proc?: Proc;
  ready = false;
  readySince = 0;
  terminating = false;
  /** True once an applied nginx config has routed traffic to it. */
  everRouted = false;
  restarts = 0;
  readonly signals: string[] = [];
  readonly exits: { code: number | null; signal: string | null }[] = [];
  private probe?: NodeJS.Timeout;
  private probeFailures = 0;
  private restartTimer?: NodeJS.Timeout;
  private finalExit?: () => void;
  readonly finished: Promise<void>;

  constructor(
    private readonly cluster: Cluster,
    readonly tier: Tier,
    readonly slot: Slot,
    readonly release: Release,
    readonly port: number,
  ) {
    this.name = `${tier}-${slot}-${release.version}-${++replicaCounter}`;
    this.finished = new Promise<void>((resolve) => {
      this.finalExit = resolve;
    });
  }

  get alive(): boolean {
    return this.proc?.running() ?? false;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The newest of its output (all its runs). */
  output(): string {
    return this.earlier + (this.proc?.output() ?? '');
  }

  private earlier = '';

  /** Starts the process and the kubelet's readiness probe. */
  launch(): void {
    this.earlier = this.output().slice(-OUTPUT_KEPT);
    const proc = spawnProcess({
      name: this.name,
      command: process.execPath,
      args: [serviceScriptPath(this.tier)],
      // Only what a pod's container gets: its manifest's environment.
      inheritEnv: false,
      env: {
        ...this.cluster.baseEnv(this.tier, this.slot),
        PORT: String(this.port),
        APP_VERSION: this.release.version,
        ...(this.release.env?.[this.tier] ?? {}),
      },
      keepChars: OUTPUT_KEPT,
    });
    this.proc = proc;
    proc.child.once('exit', (code, signal) => {
      this.exits.push({ code, signal });
      this.onExit();
    });
    this.probeFailures = 0;
    clearInterval(this.probe);
    this.probe = setInterval(() => void this.checkReadiness(), TIMING.probePeriodMs);
    void this.checkReadiness();
  }

  private async checkReadiness(): Promise<void> {
    if (!this.alive || this.terminating) return;
    let passed = false;
    try {
      const response = await fetch(`http://127.0.0.1:${this.port}/readyz`, {
        signal: AbortSignal.timeout(TIMING.probeTimeoutMs),
      });
      await response.arrayBuffer();
      passed = response.status === 200;
    } catch {
      passed = false;
    }
    if (!this.alive || this.terminating) return;
    if (passed) {
      this.probeFailures = 0;
      if (!this.ready) {
        this.ready = true;
        this.readySince = performance.now();
        this.cluster.endpointsChanged(`${this.name} ready`);
      }
    } else if (++this.probeFailures >= TIMING.probeFailureThreshold && this.ready) {
      this.ready = false;
      this.cluster.endpointsChanged(`${this.name} not ready`);
    }
  }

  private onExit(): void {
    const wasReady = this.ready;
    this.ready = false;
    if (this.terminating) {
      clearInterval(this.probe);
      this.finalExit?.();
      return;
    }
    // A crash (or SIGKILL): the kubelet sees the container gone, the pod turns not ready at once,
    // and the container is restarted after the back-off.
    if (wasReady) this.cluster.endpointsChanged(`${this.name} died`);
    const backoff = TIMING.crashBackoffMs[Math.min(this.restarts, TIMING.crashBackoffMs.length - 1)]!;
    this.restarts++;
    this.restartTimer = setTimeout(() => {
      if (!this.terminating) this.launch();
    }, backoff);
  }

  /** Test teardown: SIGKILL, no restart, no probes. */
  dispose(): void {
    this.terminating = true;
    clearInterval(this.probe);
    clearTimeout(this.restartTimer);
    this.proc?.signal('SIGKILL');
  }

  /** A crash: SIGKILL, nothing flushed. The kubelet restarts it. */
  kill(): void {
    this.signals.push('SIGKILL');
    this.proc?.signal('SIGKILL');
  }

  /**
   * Pod deletion: out of the endpoints (after propagation) and SIGTERM at the same moment, as the
   * endpoints controller and the kubelet both react to the deletion; SIGKILL after the grace period.
   */
  async terminate(): Promise<void> {
    if (this.terminating) return this.finished;
    this.terminating = true;
    clearTimeout(this.restartTimer);
    this.cluster.endpointsChanged(`${this.name} terminating`);
    if (!this.alive) {
      clearInterval(this.probe);
      this.finalExit?.();
      return this.finished;
    }
    this.signals.push('SIGTERM');
    this.proc?.signal('SIGTERM');
    const grace = setTimeout(() => {
      this.signals.push('SIGKILL (grace period over)');
      this.proc?.signal('SIGKILL');
    }, TIMING.terminationGraceMs);
    await this.finished;
    clearTimeout(grace);
  }
}

export interface RolloutResult {
  ok: boolean;
  reason?: string;
  /** Replicas the rollout created (including a failed one). */
  created: Replica[];
  /** How long it took, until the last old replica had exited (or the undo was done). */
  ms: number;
}

export class Cluster {
  readonly replicas: Replica[] = [];
  active: Slot = 'blue';
  readonly events: ReplicaEvent[] = [];
  private lastRoutes = '';
  private applying: Promise<void> = Promise.resolve();
  private readonly pendingChanges = new Set<Promise<void>>();

  private constructor(
    readonly redis: RedisServer,
    readonly nginx: Ingress,
    readonly servicePorts: Record<Slot, number>,
    private readonly dir: string,
  ) {}

  static async start(): Promise<Cluster> {
    const dir = mkdtempSync(join(tmpdir(), 'tasktier-rollout-'));
    const redis = await startRedis();
    const [ingress, preview, blue, green] = [
      await getFreePort(),
      await getFreePort(),
      await getFreePort(),
      await getFreePort(),
    ];
    const servicePorts = { blue, green };
    const nginx = await startIngress(join(dir, 'nginx'), { ingress, preview }, emptyRoutes(servicePorts));
    return new Cluster(redis, nginx, servicePorts, dir);
  }

  get origin(): string {
    return `http://127.0.0.1:${this.nginx.ports.ingress}`;
  }

  get previewOrigin(): string {
    return `http://127.0.0.1:${this.nginx.ports.preview}`;
  }

  baseEnv(tier: Tier, slot: Slot): Record<string, string> {
    const common = {
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      DRAIN_DELAY_MS: String(TIMING.drainDelayMs),
      SHUTDOWN_TIMEOUT_MS: String(TIMING.shutdownTimeoutMs),
      // Many replicas on one host: each takes a free metrics port.
      METRICS_PORT: '0',
    };
    return tier === 'backend'
      ? { ...common, REDIS_URL: this.redis.url, RATE_LIMITS: 'off', TRUST_PROXY: 'loopback' }
      : { ...common, BACKEND_URL: `http://127.0.0.1:${this.servicePorts[slot]}`, UPSTREAM_TIMEOUT_MS: '10000' };
  }

  select(tier: Tier, slot: Slot = this.active): Replica[] {
    return this.replicas.filter((replica) => replica.tier === tier && replica.slot === slot && !replica.terminating);
  }

  /** A new pod: a process on a fresh port, probed by the kubelet. */
  async addReplica(tier: Tier, slot: Slot, release: Release): Promise<Replica> {
    const replica = new Replica(this, tier, slot, release, await getFreePort());
    this.replicas.push(replica);
    this.event(`${replica.name} created`);
    replica.launch();
    return replica;
  }

  /** Starts a full set (2 backends, 2 frontends) in a slot and waits until traffic can reach it. */
  async startSet(slot: Slot, release: Release, replicas = 2): Promise<Replica[]> {
    const created: Replica[] = [];
    for (const tier of ['backend', 'frontend'] as const) {
      for (let index = 0; index < replicas; index++) created.push(await this.addReplica(tier, slot, release));
    }
    await waitFor(`the ${slot} set to be ready`, () => created.every((replica) => replica.ready), {
      timeoutMs: 30_000,
    });
    await this.settled();
    return created;
  }

  /** The routes the endpoints say now: ready, non-terminating replicas. */
  routes(): Routes {
    const serving = (tier: Tier, slot: Slot) =>
      this.replicas
        .filter((replica) => replica.tier === tier && replica.slot === slot && replica.ready && !replica.terminating)
        .map((replica) => replica.port);
    return {
      ingress: serving('frontend', this.active),
      preview: serving('frontend', otherSlot(this.active)),
      backendServices: new Map([
        [this.servicePorts.blue, serving('backend', 'blue')],
        [this.servicePorts.green, serving('backend', 'green')],
      ]),
    };
  }

  /**
   * An endpoint changed: the Ingress and kube-proxy learn it after the propagation delay (a
   * modelled latency, not a wait for something), then nginx reloads with what the endpoints say
   * by then.
   */
  endpointsChanged(why: string): void {
    this.event(why);
    const change = delay(TIMING.propagationMs).then(() => this.applyRoutes());
    this.pendingChanges.add(change);
    void change.finally(() => this.pendingChanges.delete(change));
  }

  /** Applies the current routes now (a Service selector patch, as blue-green's switch does). */
  applyRoutes(): Promise<void> {
    this.applying = this.applying.then(async () => {
      const routes = this.routes();
      const key = JSON.stringify({ ...routes, backendServices: [...routes.backendServices] });
      if (key === this.lastRoutes) return;
      await this.nginx.apply(routes);
      this.lastRoutes = key;
      const routed = new Set([...routes.ingress, ...routes.preview, ...[...routes.backendServices.values()].flat()]);
      for (const replica of this.replicas) if (routed.has(replica.port)) replica.everRouted = true;
      this.event(
        `nginx reloaded: ingress ${routes.ingress.join(',') || '-'}, preview ${routes.preview.join(',') || '-'}`,
      );
    });
    return this.applying;
  }

  /** Waits until every endpoint change so far has reached nginx. */
  async settled(): Promise<void> {
    while (this.pendingChanges.size > 0) await Promise.all([...this.pendingChanges]);
    await this.applying;
  }

  /** Blue-green's switch: the active Service selects the other slot; one reload. */
  async switchTo(slot: Slot): Promise<number> {
    this.active = slot;
    this.event(`switch to ${slot}`);
    const started = performance.now();
    await this.applyRoutes();
    return performance.now() - started;
  }

  /**
   * A Deployment rollout (maxSurge 1, maxUnavailable 0): for each old replica, start a new one,
   * wait until it is available (ready for minReadySeconds) within the progress deadline, then
   * terminate the old one. If a new replica never gets there, the rollout has failed and is
   * undone (`kubectl rollout undo`): the new replica is deleted, the old ones were never touched.
   */
  async rollingUpdate(tier: Tier, slot: Slot, release: Release): Promise<RolloutResult> {
    const started = performance.now();
    const old = this.select(tier, slot);
    const created: Replica[] = [];
    const stopping: Promise<void>[] = [];
    const available = (replica: Replica) =>
      waitFor(
        `${replica.name} to be available`,
        () => replica.ready && performance.now() - replica.readySince >= TIMING.minReadyMs,
        { timeoutMs: TIMING.progressDeadlineMs, intervalMs: 50 },
      ).then(
        () => true,
        () => false,
      );
    for (const victim of old) {
      const fresh = await this.addReplica(tier, slot, release);
      created.push(fresh);
      if (!(await available(fresh))) {
        const reason = `${fresh.name} did not become available within the progress deadline (${summary(fresh)})`;
        this.event(`rollout of ${tier} failed: ${reason}; undo`);
        await fresh.terminate();
        // The undo is a rollout back to the old version, with the same surge rule, for the new
        // replicas that had already replaced old ones.
        for (const replaced of created.filter((replica) => replica !== fresh)) {
          const back = await this.addReplica(tier, slot, victim.release);
          if (!(await available(back))) throw new Error(`the undo of the ${tier} rollout failed too: ${summary(back)}`);
          stopping.push(replaced.terminate());
        }
        await Promise.all(stopping);
        return { ok: false, reason, created, ms: performance.now() - started };
      }
      stopping.push(victim.terminate());
    }
    await Promise.all(stopping);
    return { ok: true, created, ms: performance.now() - started };
  }

  event(what: string): void {
    this.events.push({ at: performance.now(), what });
  }

  /** Which replica an nginx X-Upstream value names ("127.0.0.1:port", the last one nginx tried last). */
  replicaAt(upstream: string | undefined): Replica | undefined {
    const port = Number(upstream?.split(',').at(-1)?.split(':').at(-1));
    return Number.isInteger(port) ? this.replicas.findLast((replica) => replica.port === port) : undefined;
  }

  async stop(): Promise<void> {
    await this.settled().catch(() => undefined);
    for (const replica of this.replicas) replica.dispose();
    await Promise.all(this.replicas.map((replica) => (replica.alive ? replica.finished : undefined)));
    await this.nginx.stop();
    await this.redis.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function emptyRoutes(servicePorts: Record<Slot, number>): Routes {
  return {
    ingress: [],
    preview: [],
    backendServices: new Map([
      [servicePorts.blue, []],
      [servicePorts.green, []],
    ]),
  };
}

function summary(replica: Replica): string {
  const exits = replica.exits.length;
  const tail = replica.output().trim().split('\n').at(-1)?.slice(0, 200);
  return exits > 0
    ? `exited ${exits} time(s), restarts ${replica.restarts}, last output: ${tail ?? '(none)'}`
    : `running, readiness ${replica.ready ? 'passing' : 'failing'}`;
}
