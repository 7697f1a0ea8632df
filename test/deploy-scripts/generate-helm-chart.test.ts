import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { errorLine, runScript } from './lib/run.ts';

/*
 * deploy/scripts/generate-helm-chart as users run it. It needs no cluster, only `kubectl
 * kustomize`: the stand-in hands every call to the real kubectl (and records it). That the
 * committed chart is what it generates, and that the chart equals kustomize object by object, is
 * test/k8s/helm-chart.test.ts; here: the script's interface.
 */

const kustomizeOnly = { kind: 'stand-in' as const, rules: [{ match: '^kustomize ', real: true }] };
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

describe('generate-helm-chart', () => {
  test('--help prints the usage and renders nothing', async () => {
    const run = await runScript('generate-helm-chart', ['--help'], kustomizeOnly);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: deploy/scripts/generate-helm-chart [--check] [--out DIR]');
    expect(run.calls).toEqual([]);
  });

  test('an unknown option: one line, exit 2, nothing rendered', async () => {
    const run = await runScript('generate-helm-chart', ['--chek'], kustomizeOnly);
    expect(run.code).toBe(2);
    expect(errorLine(run)).toMatch(/^generate-helm-chart: Unknown option '--chek'.*\(see --help\)$/);
    expect(run.calls).toEqual([]);
  });

  test('--check against a chart that is not there: exit 1, names the files, writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tasktier-chart-check-'));
    scratch.push(dir);
    const run = await runScript('generate-helm-chart', ['--check', '--out', dir], kustomizeOnly);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/generate-helm-chart: rendering deploy\/k8s with kubectl kustomize/);
    expect(run.stderr).toMatch(
      /file\(s\) differ from a fresh generation: templates\/generated\/certificate-microservices-local-tls\.yaml, .*values\.schema\.json, values\.yaml; run deploy\/scripts\/generate-helm-chart/,
    );
    expect(run.calls.every((call) => call[0] === 'kustomize')).toBe(true);
    expect(run.calls.length).toBeGreaterThan(10);
    expect(readdirSync(dir)).toEqual([]);
  });
});
