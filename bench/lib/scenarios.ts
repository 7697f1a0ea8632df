import type { WorkloadName } from './results.ts';

/**
 * The guards whose cost the benchmark measures: each is a backend of its own, started with the
 * environment below and loaded right after the plain backend (`RATE_LIMITS=off`, defaults
 * otherwise) with the same workloads. The table prints each one's req/s and CPU against the plain
 * backend's, and a target holds each to within 5% of its req/s. A new guard (or a setting that
 * should cost nothing when off) is one entry here.
 */
export interface GuardScenario {
  /** The path name (`--only get20:<path>`), lower case. */
  path: string;
  /** What the table calls it. */
  label: string;
  /** Added to the plain backend's environment. */
  env: Record<string, string>;
  workloads: readonly WorkloadName[];
}

export const GUARDS: readonly GuardScenario[] = [
  {
    path: 'limits-on',
    label: 'rate limits on',
    // Every request counted in Redis, the limits raised so that nothing is refused.
    env: {
      RATE_LIMITS: 'on',
      READS_PER_MINUTE: '1000000000',
      WRITES_PER_MINUTE: '1000000000',
      LIST_CREATES_PER_MINUTE: '1000000000',
    },
    workloads: ['get20', 'post'],
  },
  // Tracing compiled in but switched off is measured the same way once the services have the
  // switch: { path: 'tracing-off', label: 'tracing off', env: { <the switch>: 'off' }, workloads: ['get20', 'post'] }.
];

/** The most a guard may take from the plain backend's req/s. */
export const GUARD_BUDGET = 0.05;
