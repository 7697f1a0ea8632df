import { afterAll, describe, expect, test } from 'vitest';
import { RenderTree } from './lib/render.ts';
import { formatSummary, ingressSummary, summarize } from './lib/summary.ts';

// The architecture's numbers, written out in full for dev and prod so that a change to any of them
// shows up here as a diff. The audit (render.test.ts) checks the rules behind them for every
// combination; this file is the table a reader compares with docs/architecture.md.

const tree = new RenderTree();
afterAll(() => tree.dispose());

const probes = {
  app: {
    startup: 'GET /healthz every 2s, timeout 2s, x30',
    liveness: 'GET /healthz every 10s, timeout 3s, x3',
    readiness: 'GET /readyz every 5s, timeout 2s, x2',
  },
  // base and dev: one shared password; prod (redis-acl): the ACL user probe, PING only.
  redis: (login: 'password' | 'probe') => ({
    startup: `exec redis-cli ping (${login}) every 5s, timeout 3s, x60`,
    liveness: `exec redis-cli ping (${login}) every 10s, timeout 5s, x3`,
    readiness: `exec redis-cli ping (${login}) every 5s, timeout 3s, x2`,
  }),
};
const rollout = {
  strategy: 'RollingUpdate maxUnavailable 0 maxSurge 1',
  minReadySeconds: 5,
  progressDeadlineSeconds: 120,
  drainMs: 5000,
  shutdownMs: 10000,
  graceSeconds: 30,
};
const redisCommon = {
  kind: 'StatefulSet',
  image: 'redis:7-alpine',
  replicas: 1,
  hpa: '-',
  pdbMinAvailable: '-',
  containerPort: 6379,
  servicePort: 6379,
  metricsPort: '-',
  uid: 999,
  gid: 1000,
  qos: 'Burstable',
  strategy: 'RollingUpdate',
  minReadySeconds: '-',
  progressDeadlineSeconds: '-',
  drainMs: '-',
  shutdownMs: '-',
  graceSeconds: 60,
};

describe('the architecture in numbers', () => {
  test('prod', async () => {
    const objects = await tree.render('overlays/prod');
    const summary = summarize(objects);
    console.log(formatSummary('overlays/prod', summary));
    const hpa = '2-10, cpu 70%, memory 80%, scale-down window 300s';
    expect(summary).toEqual({
      frontend: {
        kind: 'Deployment',
        image: 'tasktier/frontend:0.1.0',
        replicas: 'hpa',
        hpa,
        pdbMinAvailable: 1,
        containerPort: 8080,
        servicePort: 8080,
        metricsPort: 9465,
        uid: 1000,
        gid: 1000,
        qos: 'Burstable',
        requests: 'cpu 100m, memory 256Mi',
        limits: 'cpu 1, memory 512Mi',
        ...rollout,
        ...probes.app,
      },
      backend: {
        kind: 'Deployment',
        image: 'tasktier/backend:0.1.0',
        replicas: 'hpa',
        hpa,
        pdbMinAvailable: 1,
        containerPort: 5000,
        servicePort: 5000,
        metricsPort: 9464,
        uid: 1000,
        gid: 1000,
        qos: 'Burstable',
        requests: 'cpu 100m, memory 256Mi',
        limits: 'cpu 1, memory 512Mi',
        ...rollout,
        ...probes.app,
      },
      redis: {
        ...redisCommon,
        ...probes.redis('probe'),
        requests: 'cpu 100m, memory 256Mi',
        limits: 'cpu 1, memory 512Mi',
      },
      // redis-backup: one pod an hour, as Redis's user and group, with the Redis image's tools.
      'redis-backup': {
        kind: 'CronJob',
        image: 'redis:7-alpine',
        replicas: '-',
        hpa: '-',
        pdbMinAvailable: '-',
        containerPort: '-',
        servicePort: '-',
        metricsPort: '-',
        uid: 999,
        gid: 1000,
        qos: 'Burstable',
        requests: 'cpu 50m, memory 64Mi',
        limits: 'cpu 500m, memory 256Mi',
        strategy: 'schedule 17 * * * * Etc/UTC, concurrency Forbid',
        minReadySeconds: '-',
        progressDeadlineSeconds: '-',
        startup: '-',
        liveness: '-',
        readiness: '-',
        drainMs: '-',
        shutdownMs: '-',
        graceSeconds: 30,
      },
    });
    // prod serves HTTPS only (the ingress-tls component).
    expect(ingressSummary(objects)).toEqual(['class nginx https://microservices.local/ -> frontend:http']);
  });

  test('dev', async () => {
    const objects = await tree.render('overlays/dev');
    const summary = summarize(objects);
    console.log(formatSummary('overlays/dev', summary));
    const app = {
      kind: 'Deployment',
      replicas: 1,
      hpa: '-',
      pdbMinAvailable: '-',
      uid: 1000,
      gid: 1000,
      qos: 'Burstable',
      requests: 'cpu 25m, memory 96Mi',
      limits: 'cpu 500m, memory 256Mi',
      ...rollout,
      ...probes.app,
    };
    expect(summary).toEqual({
      frontend: { ...app, image: 'tasktier/frontend:0.1.0', containerPort: 8080, servicePort: 8080, metricsPort: 9465 },
      backend: { ...app, image: 'tasktier/backend:0.1.0', containerPort: 5000, servicePort: 5000, metricsPort: 9464 },
      redis: {
        ...redisCommon,
        ...probes.redis('password'),
        requests: 'cpu 25m, memory 32Mi',
        limits: 'cpu 500m, memory 192Mi',
      },
    });
    expect(ingressSummary(objects)).toEqual(['class nginx http://microservices.local/ -> frontend:http']);
  });
});
