import type { PodSpec } from './types.ts';

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A Kubernetes resource.Quantity ("100m", "1", "128Mi", "1e3", 2) in base units (cores, bytes). */
export function parseQuantity(quantity: string | number): number {
  if (typeof quantity === 'number') return quantity;
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/.exec(
    quantity.trim(),
  );
  if (!match) throw new Error(`not a Kubernetes quantity: ${quantity}`);
  const value = Number(match[1]);
  if (match[3] !== undefined) return value * 10 ** Number(match[3]);
  const suffix = match[2] ?? '';
  return value * (BINARY[suffix] ?? DECIMAL[suffix] ?? 1);
}

/** Redis's memory units: "200mb" = 200 MiB, "200m" = 200,000,000 (redis.conf's own rules). */
export function parseRedisBytes(value: string): number {
  const match = /^(\d+)(k|kb|m|mb|g|gb)?$/i.exec(value.trim());
  if (!match) throw new Error(`not a Redis memory size: ${value}`);
  const units: Record<string, number> = { k: 1e3, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };
  return Number(match[1]) * (units[(match[2] ?? '').toLowerCase()] ?? 1);
}

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/**
 * The pod's QoS class as the kubelet computes it (GetPodQOS): BestEffort when no container has a
 * CPU or memory request or limit; Guaranteed when every container has CPU and memory limits and
 * the requests (defaulted to the limits when absent, as the API server does) equal them;
 * Burstable otherwise. Init containers count, ephemeral containers do not.
 */
export function qosClass(spec: PodSpec): QosClass {
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  let anySet = false;
  let guaranteed = true;
  for (const container of containers) {
    const limits = container.resources?.limits ?? {};
    const requests = container.resources?.requests ?? {};
    for (const resource of ['cpu', 'memory']) {
      const limit = limits[resource] === undefined ? undefined : parseQuantity(limits[resource]);
      const explicitRequest = requests[resource] === undefined ? undefined : parseQuantity(requests[resource]);
      const request = explicitRequest ?? limit;
      if ((limit ?? 0) !== 0 || (request ?? 0) !== 0) anySet = true;
      if (limit === undefined || limit === 0 || request !== limit) guaranteed = false;
    }
  }
  if (!anySet) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
