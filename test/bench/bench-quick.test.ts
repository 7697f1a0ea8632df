import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunResult, repoRoot, run as runCommand } from '@tasktier/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchResults } from '../../bench/lib/results.ts';
import {
  PATHS,
  SECOND_RUNTIME_WORKLOADS,
  secondRuntimePath,
  WORKLOAD_LABELS,
  WORKLOADS,
} from '../../bench/lib/results.ts';
import { GUARDS } from '../../bench/lib/scenarios.ts';

/** Runs the harness as `npm run bench` does (tsx), without a shell. */
async function bench(args: string[], timeoutMs = 150_000): Promise<RunResult> {
  const result = await runCommand(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench/run.ts'), ...args], {
    cwd: repoRoot,
    timeoutMs,
    timeoutSignal: 'SIGINT',
  });
  if (result.timedOut)
    throw new Error(`bench ${args.join(' ')} did not finish in ${timeoutMs} ms:\n${result.stderr.slice(-3000)}`);
  return result;
}

/** A figure is reported when it is a finite number; its value is never checked. */
function expectFigure(value: unknown, what: string): void {
  expect(typeof value, what).toBe('number');
  expect(Number.isFinite(value), `${what} is finite`).toBe(true);
}

describe('npm run bench', () => {
  it('--help describes the benchmark and exits 0', async () => {
    const run = await bench(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: npm run bench');
    expect(run.stdout).toContain('--quick');
  });

  it('a bad option is one line on stderr and a non-zero exit', async () => {
    const run = await bench(['--connections', 'many']);
    expect(run.code).not.toBe(0);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('--connections');
  });

  describe('--quick', () => {
    let out: string;
    let run: RunResult;
    let results: BenchResults;

    beforeAll(async () => {
      out = mkdtempSync(join(tmpdir(), 'tasktier-bench-test-'));
      run = await bench(['--quick', '--out', out]);
      if (run.code !== 0) throw new Error(`bench --quick exited ${run.code}:\n${run.stderr.slice(-3000)}`);
      results = JSON.parse(readFileSync(join(out, 'latest-quick.json'), 'utf8')) as BenchResults;
    }, 180_000);

    afterAll(() => {
      if (out) rmSync(out, { recursive: true, force: true });
    });

    it('shows its progress on stderr', () => {
      expect(run.stderr).toMatch(/\[ *1\/\d+ +\d+ s\] starting/);
      expect(run.stderr).toContain('targets met');
    });

    it('reports the ceiling and every workload through every path, as figures and ratios', () => {
      expect(results.mode).toBe('quick');
      expectFigure(results.ceiling.rps, 'ceiling req/s');
      expect(results.ceiling.runs).toHaveLength(2);
      expectFigure(results.ceiling.halfPeak.p99, 'ceiling half-peak p99');
      for (const workload of WORKLOADS) {
        for (const path of PATHS) {
          const w = results.workloads.find((x) => x.workload === workload && x.path === path);
          const what = `${workload} via ${path}`;
          expect(w, what).toBeDefined();
          for (const key of ['rps', 'ratio', 'p50', 'p99', 'errors', 'requests'] as const) {
            expectFigure(w?.[key], `${what} ${key}`);
          }
          for (const key of ['rate', 'rps', 'p50', 'p99', 'max', 'errors'] as const) {
            expectFigure(w?.halfPeak[key], `${what} half-peak ${key}`);
          }
          expect(Object.keys(w?.cpuUs ?? {}), `${what} CPU per request`).toContain('redis');
          for (const [name, us] of Object.entries(w?.cpuUs ?? {})) expectFigure(us, `${what} CPU of ${name}`);
        }
      }
    });

    it("measures each guard's cost: its workloads to a backend with it on, none refused", () => {
      expect(GUARDS.length).toBeGreaterThan(0);
      for (const guard of GUARDS) {
        for (const workload of guard.workloads) {
          const w = results.workloads.find((x) => x.workload === workload && x.path === guard.path);
          expect(w, `${workload} with ${guard.label}`).toBeDefined();
          expectFigure(w?.rps, `${workload} with ${guard.label} req/s`);
          expect(w?.errors, `${workload} with ${guard.label} errors`).toBe(0);
        }
        expect(run.stdout).toContain(`cost of ${guard.label} (backend, off -> on): GET 20 todos`);
        expect(results.targets.some((t) => t.name.includes(`cost of ${guard.label}`))).toBe(true);
      }
    });

    it('runs the services and the ceiling on Node 24 and the peak runs on wrk', () => {
      expect(results.runtime).toMatch(/^24\./);
      expect(run.stdout).toContain(`services and ceiling on Node ${results.runtime}`);
      expect(results.machine.wrk, 'wrk version').toBeDefined();
      expect(run.stdout).toContain('peak runs wrk -t1');
    });

    it("gives the machine's own Node a column of its own when it is not 24", () => {
      const major = Number(process.versions.node.split('.')[0]);
      if (major === 24) {
        expect(results.secondRuntime).toBeUndefined();
        return;
      }
      expect(results.secondRuntime?.major).toBe(major);
      expectFigure(results.secondRuntime?.ceiling.rps, `Node ${major} ceiling req/s`);
      for (const workload of SECOND_RUNTIME_WORKLOADS) {
        const w = results.workloads.find((x) => x.workload === workload && x.path === secondRuntimePath(major));
        expectFigure(w?.ratio, `${workload} on Node ${major} ratio`);
        expect(w?.errors, `${workload} on Node ${major} errors`).toBe(0);
      }
      expect(run.stdout).toContain(`node ${major} ceiling`);
    });

    it('reports GET latency for each list size, and the fan-out with RSS per process', () => {
      expect(results.scale.map((s) => s.todos)).toEqual(results.settings.scaleSizes.flatMap((size) => [size, size]));
      for (const s of results.scale) {
        for (const key of ['rps', 'ratio', 'p50', 'p99', 'bodyBytes'] as const) {
          expectFigure(s[key], `${s.todos} todos ${key}`);
        }
        expectFigure(s.halfPeak.p50, `${s.todos} todos half-peak p50`);
      }
      expect(results.fanOut.map((f) => f.clients)).toEqual(results.settings.fanOutClients);
      for (const f of results.fanOut) {
        for (const key of ['connectMs', 'p50', 'p99', 'max', 'received'] as const) {
          expectFigure(f[key], `fan-out ${f.clients} ${key}`);
        }
        expect(Object.keys(f.rss).sort()).toEqual(['backend-a', 'backend-b', 'frontend-a', 'frontend-b']);
        for (const [name, bytes] of Object.entries(f.rss)) expectFigure(bytes, `fan-out ${f.clients} ${name} RSS`);
      }
    });

    it('reports startup time, peak RSS per service and the machine', () => {
      const services = ['backend-a', 'backend-b', 'frontend-a', 'frontend-b'];
      expect(Object.keys(results.startupMs).sort()).toEqual(services);
      for (const name of services) {
        expectFigure(results.startupMs[name], `${name} startup`);
        for (const phase of ['idle', 'load', 'scale'] as const) {
          expectFigure(results.rss[phase][name], `${name} RSS ${phase}`);
        }
      }
      for (const key of ['cpus', 'cpuModel', 'memoryGb', 'os', 'harnessNode', 'redis', 'nginx', 'wrk', 'loadAvg']) {
        expect(results.machine[key], `machine ${key}`).toBeDefined();
      }
    });

    it('checks every target and prints the tables', () => {
      expect(results.targets.length).toBeGreaterThan(10);
      for (const target of results.targets) expect(typeof target.met, target.name).toBe('boolean');
      for (const label of Object.values(WORKLOAD_LABELS)) expect(run.stdout).toContain(label);
      expect(run.stdout).toContain('ceiling (bare node:http');
      expect(run.stdout).toContain('SSE fan-out');
      expect(run.stdout).toMatch(/target +goal +measured +met/);
    });

    it('writes the JSON and an SVG chart, time-stamped and as latest', () => {
      const files = readdirSync(out);
      expect(files.filter((f) => /^bench-quick-.*\.json$/.test(f))).toHaveLength(1);
      expect(files.filter((f) => /^bench-quick-.*\.svg$/.test(f))).toHaveLength(1);
      const svg = readFileSync(join(out, 'latest-quick.svg'), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('share of the ceiling');
      expect(existsSync(join(out, 'latest.json'))).toBe(false);
    });
  });
});
