/**
 * What the benchmark measures about its processes besides requests: open-file limits, RSS, CPU
 * time. The processes themselves are started with @tasktier/testkit.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

/** File descriptors we would like each process to have: 5,000 event streams need ~10,000 in a frontend. */
export const WANTED_NOFILE = 65_536;

/** The soft and hard limits on open files of a process, from /proc. */
export function fileLimits(pid: number): { soft: number; hard: number } {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [, soft, hard] = line?.split(/\s{2,}/) ?? [];
  const value = (v: string | undefined) => (v === 'unlimited' ? 1 << 30 : Number(v));
  return { soft: value(soft), hard: value(hard) };
}

/** The open-file limit the harness and its processes run with (set by raiseFileLimit). */
export let nofile = 1024;

/**
 * Raises this process's open-file limit: to WANTED_NOFILE where allowed (root with
 * CAP_SYS_RESOURCE), else the soft limit to the hard one. Children are started with the same.
 */
export function raiseFileLimit(): number {
  const { hard } = fileLimits(process.pid);
  for (const limit of [Math.max(WANTED_NOFILE, hard), hard]) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${limit}:${limit}`], { stdio: 'ignore' });
      break;
    } catch {
      // not allowed: try the next
    }
  }
  nofile = fileLimits(process.pid).soft;
  return nofile;
}

/** Resident set size of a process in bytes (0 when it is gone). */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples the RSS of named processes every few hundred milliseconds and keeps the peak of each
 * within the current phase.
 */
export class RssSampler {
  private readonly timer: NodeJS.Timeout;
  private peaks = new Map<string, number>();

  constructor(
    private readonly procs: () => Array<{ name: string; pid: number }>,
    intervalMs = 200,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): Map<string, number> {
    const now = new Map<string, number>();
    for (const { name, pid } of this.procs()) {
      const rss = rssBytes(pid);
      now.set(name, rss);
      if (rss > (this.peaks.get(name) ?? 0)) this.peaks.set(name, rss);
    }
    return now;
  }

  /** Starts a new phase: peaks so far are returned and forgotten. */
  reset(): Map<string, number> {
    this.sample();
    const peaks = this.peaks;
    this.peaks = new Map();
    return peaks;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** The pids of a process and all its descendants (nginx workers included); this process by default. */
function ownPids(root = process.pid): number[] {
  const pids: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop() as number;
    pids.push(pid);
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
        if (children) queue.push(...children.split(' ').map(Number));
      }
    } catch {
      // gone
    }
  }
  return pids;
}

function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return 0;
  }
}

function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * CPU used by processes that are not the benchmark's own (other work on a shared machine), in
 * cores, over the time between start() and the returned function's call. Processes that ended
 * in between count as other work, so call it around runs that start and stop nothing.
 */
export function otherCpu(): () => number {
  const cores = cpus().length;
  const pids = ownPids();
  const ours = () => pids.reduce((sum, pid) => sum + processTicks(pid), 0);
  const before = machineTicks();
  const oursBefore = ours();
  return () => {
    const after = machineTicks();
    const elapsedPerCore = (after.total - before.total) / cores;
    if (elapsedPerCore <= 0) return 0;
    const foreign = after.busy - before.busy - (ours() - oursBefore);
    return Math.max(0, foreign / elapsedPerCore);
  };
}

const CLOCK_TICKS_PER_S = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time (user + system) that processes and their children use between start and the call of
 * the returned function, in microseconds per name. Unlike req/s, this hardly changes when other
 * work on a shared machine takes CPU away, so it is the figure to compare builds with.
 */
export function cpuMeter(procs: Array<{ name: string; pid: number }>): () => Record<string, number> {
  const ticks = (pid: number) => ownPids(pid).reduce((sum, p) => sum + processTicks(p), 0);
  const before = procs.map((p) => ticks(p.pid));
  return () => {
    const used: Record<string, number> = {};
    procs.forEach((p, i) => {
      used[p.name] = ((ticks(p.pid) - (before[i] ?? 0)) * 1e6) / CLOCK_TICKS_PER_S;
    });
    return used;
  };
}

/**
 * How the benchmark runs a process (testkit options): with the raised open-file limit, its output
 * in <logDir>/<name>.log (never through a pipe into the harness, whose CPU is the load
 * generator's), and SIGKILL when a stop takes over 15 s.
 */
export function benchProcess(logDir: string, name: string) {
  return { output: { file: join(logDir, `${name}.log`) }, nofile, killAfterMs: 15_000 };
}
