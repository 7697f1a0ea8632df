import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { getFreePort } from './ports.ts';
import type { Output } from './process.ts';
import { type RedisServer, startRedis } from './redis.ts';
import { waitFor } from './wait.ts';

export interface RedisClusterOptions {
  /** Primaries (default 3). Three or more are formed by `redis-cli --cluster create`; fewer by hand. */
  primaries?: number;
  /** Replicas per primary (default 1). */
  replicasPerPrimary?: number;
  /**
   * How long a primary may not answer before its replica takes over (`cluster-node-timeout`,
   * default 2000 ms: failovers within a test's time; Redis's own default is 15 s).
   */
  nodeTimeoutMs?: number;
  /** Extra `redis-server` arguments for every node (e.g. an ACL file, persistence). */
  args?: string[];
  /** Arguments every `redis-cli` call of the kit starts with, e.g. ['--user', 'admin', '--pass', pw]. */
  cliAuth?: string[];
  /**
   * ACL users as in production (deploy/k8s/components/redis-cluster): every node loads `file` (from
   * deploy/redis/generate-acl), replicas log in to their primary as `backup` (masteruser/masterauth,
   * the component's redis-replication Secret), and the kit's own redis-cli calls log in as `admin`.
   */
  acl?: ClusterAcl;
  output?: Output;
}

export interface ClusterAcl {
  /** The ACL file every node loads (`aclfile`). */
  file: string;
  passwords: { backup: string; admin: string };
}

export interface ClusterNode {
  port: number;
  /** The cluster bus port (`cluster-port`), where nodes gossip and fail over. */
  busPort: number;
  server: RedisServer;
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'primary' | 'replica';
  /** For a replica: its primary's id. */
  primaryId?: string;
  failed: boolean;
  /** Slot count this node serves. */
  slots: number;
}

export interface RedisCluster {
  nodes: ClusterNode[];
  /** `host:port` of every node, comma-separated: REDIS_CLUSTER_NODES. */
  seeds: string;
  /** redis-cli against one node (the kit's auth arguments first); output trimmed. */
  cli(port: number, ...args: string[]): string;
  /** The topology as a node that is running sees it. */
  topology(): ClusterNodeInfo[];
  /** The node serving `key`'s slot. */
  primaryOf(key: string): ClusterNodeInfo;
  /** Waits until every running node says cluster_state:ok and agrees on one primary per slot range. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** `redis-cli --cluster reshard`: moves `slots` slots between two primaries (keys migrate live). */
  reshard(fromId: string, toId: string, slots: number): Promise<string>;
  /** Stops every node and removes their data directories. */
  stop(): Promise<void>;
}

/**
 * A real Redis Cluster on 127.0.0.1: `redis-server --cluster-enabled yes` per node, formed with
 * `redis-cli --cluster create --cluster-replicas N --cluster-yes`, stopped as one. Each node has its
 * own data directory and an explicit bus port, so no port arithmetic can collide.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const primaries = options.primaries ?? 3;
  const replicas = options.replicasPerPrimary ?? 1;
  const acl = options.acl;
  const auth = options.cliAuth ?? (acl ? ['--user', 'admin'] : []);
  // The admin password reaches redis-cli through its environment, never its command line.
  const cliEnv = acl ? { ...process.env, REDISCLI_AUTH: acl.passwords.admin } : process.env;
  const aclArgs = acl ? ['--aclfile', acl.file, '--include', writeReplicationConf(acl)] : [];
  const count = primaries * (1 + replicas);
  const nodes: ClusterNode[] = [];
  const cli = (port: number, ...args: string[]): string =>
    execFileSync('redis-cli', ['-p', String(port), ...auth, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cliEnv,
      timeout: 120_000,
    }).trim();

  const stop = async () => {
    await Promise.allSettled(nodes.map((node) => node.server.destroy()));
  };

  try {
    for (let i = 0; i < count; i++) {
      const busPort = await getFreePort();
      const server = await startRedis({
        ...(options.output ? { output: options.output } : {}),
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-port',
          String(busPort),
          '--cluster-node-timeout',
          String(options.nodeTimeoutMs ?? 2000),
          // A node that never met another (a one-primary cluster) would not know its own address.
          '--cluster-announce-ip',
          '127.0.0.1',
          ...aclArgs,
          ...(options.args ?? []),
        ],
      });
      nodes.push({ port: server.port, busPort, server });
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    if (primaries >= 3) {
      cli(
        nodeAt(nodes, 0).port,
        '--cluster',
        'create',
        ...addresses,
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      );
    } else {
      await formByHand(nodes, primaries, cli);
    }
    // Formed once every node sees every replica in place (gossip takes a moment).
    await waitFor('the cluster to know every replica', () =>
      nodes.every(
        (node) =>
          parseClusterNodes(cli(node.port, 'cluster', 'nodes')).filter((info) => info.role === 'replica').length ===
          primaries * replicas,
      ),
    );
    // And every replica in sync with its primary (WAIT counts only replicas whose link is up).
    await waitFor('every replica to be in sync with its primary', () =>
      nodes.every((node) => {
        const info = cli(node.port, 'info', 'replication');
        return info.includes('role:master') || info.includes('master_link_status:up');
      }),
    );
  } catch (error) {
    await stop();
    throw error;
  }

  const running = () => nodes.filter((node) => node.server.proc().running());
  const anyRunning = (): number => {
    const node = running()[0];
    if (!node) throw new Error('no cluster node is running');
    return node.port;
  };
  const topology = (): ClusterNodeInfo[] => parseClusterNodes(cli(anyRunning(), 'cluster', 'nodes'));

  const cluster: RedisCluster = {
    nodes,
    seeds: nodes.map((node) => `127.0.0.1:${node.port}`).join(','),
    cli,
    topology,
    primaryOf(key) {
      const slot = Number(cli(anyRunning(), 'cluster', 'keyslot', key));
      const owner = parseClusterNodesWithSlots(cli(anyRunning(), 'cluster', 'nodes')).find(
        (node) => !node.failed && node.role === 'primary' && node.ranges.some(([a, b]) => slot >= a && slot <= b),
      );
      if (!owner) throw new Error(`no primary serves slot ${slot}`);
      return owner;
    },
    async waitHealthy(timeoutMs = 30_000) {
      await waitFor(
        'every running cluster node to report cluster_state:ok with every slot served',
        () =>
          running().every((node) => {
            const info = cli(node.port, 'cluster', 'info');
            return info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384');
          }) && topology().filter((node) => node.role === 'primary' && !node.failed && node.slots > 0).length >= 1,
        { timeoutMs, intervalMs: 100 },
      );
    },
    async reshard(fromId, toId, slots) {
      const port = anyRunning();
      return cli(
        port,
        '--cluster',
        'reshard',
        `127.0.0.1:${port}`,
        '--cluster-from',
        fromId,
        '--cluster-to',
        toId,
        '--cluster-slots',
        String(slots),
        '--cluster-yes',
        // Keys move in small batches, so a busy slot is never blocked for long.
        '--cluster-pipeline',
        '10',
      );
    },
    stop,
  };
  try {
    await cluster.waitHealthy();
  } catch (error) {
    await stop();
    throw error;
  }
  return cluster;
}

/**
 * replication.conf beside the ACL file, as the component's redis-replication Secret holds it: the
 * password in a file readable by its owner only, not on redis-server's command line.
 */
function writeReplicationConf(acl: ClusterAcl): string {
  const file = join(dirname(acl.file), 'replication.conf');
  writeFileSync(file, `masteruser backup\nmasterauth ${acl.passwords.backup}\n`, { mode: 0o600 });
  return file;
}

/** Fewer than three primaries (`redis-cli --cluster create` refuses them): slots and replicas by hand. */
async function formByHand(nodes: ClusterNode[], primaries: number, cli: (port: number, ...args: string[]) => string) {
  const first = nodeAt(nodes, 0);
  for (const node of nodes.slice(1)) cli(node.port, 'cluster', 'meet', '127.0.0.1', String(first.port));
  const per = Math.ceil(16384 / primaries);
  for (let i = 0; i < primaries; i++) {
    const range = [String(i * per), String(Math.min(16383, (i + 1) * per - 1))];
    cli(nodeAt(nodes, i).port, 'cluster', 'addslotsrange', ...range);
  }
  const ids = nodes.map((node) => cli(node.port, 'cluster', 'myid'));
  for (let i = primaries; i < nodes.length; i++) {
    const node = nodeAt(nodes, i);
    const primaryId = ids[(i - primaries) % primaries] ?? '';
    // A node can only replicate one it already knows through gossip.
    await waitFor(`node ${node.port} to replicate its primary`, () => {
      try {
        return cli(node.port, 'cluster', 'replicate', primaryId) === 'OK';
      } catch {
        return false;
      }
    });
  }
}

function nodeAt(nodes: ClusterNode[], index: number): ClusterNode {
  const node = nodes[index];
  if (!node) throw new Error(`no cluster node ${index}`);
  return node;
}

interface NodeWithSlots extends ClusterNodeInfo {
  ranges: Array<[number, number]>;
}

function parseClusterNodesWithSlots(text: string): NodeWithSlots[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', address = '', flags = '', primaryId = '-', , , , , ...slotFields] = line.split(' ');
      const ranges = slotFields
        .filter((field) => !field.startsWith('['))
        .map((field): [number, number] => {
          const [a = 0, b = a] = field.split('-').map(Number);
          return [a, b];
        });
      return {
        id,
        port: Number(address.split('@')[0]?.split(':').pop()),
        role: flags.includes('master') ? 'primary' : 'replica',
        ...(primaryId !== '-' ? { primaryId } : {}),
        failed: flags.includes('fail') && !flags.includes('fail?') ? true : flags.includes('noaddr'),
        slots: ranges.reduce((sum, [a, b]) => sum + b - a + 1, 0),
        ranges,
      };
    });
}

/** CLUSTER NODES as records. */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  return parseClusterNodesWithSlots(text).map(({ ranges: _ranges, ...node }) => node);
}
