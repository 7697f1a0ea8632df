import proxyAddr from '@fastify/proxy-addr';
import { ConfigError } from './config.ts';

export interface TrustedProxies {
  /** Fastify's `trustProxy` option. */
  fastify: boolean | ((address: string, hop: number) => boolean);
  /** Whether a direct peer is a proxy whose X-Forwarded-* headers are believed. */
  trusts(address: string): boolean;
}

/**
 * TRUST_PROXY as both services read it: empty or `false` trusts nobody, `true` everybody (only
 * behind a proxy that overwrites X-Forwarded-For itself), anything else is a comma-separated list
 * of addresses, CIDRs and the names `loopback`, `linklocal`, `uniquelocal`. One parser, so that a
 * value one service accepts the other does too.
 */
export function trustedProxies(value: string): TrustedProxies {
  const trimmed = value.trim();
  if (trimmed === 'true') return { fastify: true, trusts: () => true };
  if (trimmed === 'false' || trimmed === '') return { fastify: false, trusts: () => false };
  const list = trimmed
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  let trusted: (address: string, hop: number) => boolean;
  try {
    trusted = proxyAddr.compile(list);
  } catch {
    throw new ConfigError(
      'invalid configuration: TRUST_PROXY must be empty, true, false, or a comma-separated list of addresses, CIDRs, loopback, linklocal, uniquelocal',
    );
  }
  return { fastify: trusted, trusts: (address) => trusted(address, 0) };
}
