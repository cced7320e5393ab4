import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTcpPort, infoFields, killNode, redisCli, waitFor } from './nodes.js';
import { run } from './process.js';
import { startRedisServer } from './redis.js';
import type { RedisNode } from './redis-sentinel.js';

export interface RedisClusterOptions {
  /** Masters (hash slots are split evenly between them). Default 3, the minimum of `--cluster create`. */
  masters?: number;
  /** Replicas per master (a master killed is replaced by its replica only when there is one). Default 0. */
  replicasPerMaster?: number;
  /** Parent folder of the data folders (a fresh temp folder, removed by stop(), by default). */
  dir?: string;
  log?: (m: string) => void;
}

/** A running Redis Cluster on 127.0.0.1, every node with `appendonly yes`. */
export interface RedisClusterSetup {
  nodes: RedisNode[];
  /** `CRTRAIL_REDIS_CLUSTER_NODES` (every node as a seed) for crtrail processes. */
  env: { CRTRAIL_REDIS_CLUSTER_NODES: string };
  /** Ports of the nodes that are masters now (CLUSTER NODES, asked of a living node). */
  masterPorts(): number[];
  /** The port of the master serving hash slot `slot` now (CLUSTER NODES), undefined while none does. */
  masterOfSlot(slot: number): number | undefined;
  /** SIGKILLs a node. */
  kill(node: RedisNode): Promise<void>;
  /** Waits until every living node reports `cluster_state:ok` (all slots served). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

// A node silent this long is failed by the others and its replica promoted.
const NODE_TIMEOUT_MS = 2_000;

/**
 * Starts a Redis Cluster from `redis-server --cluster-enabled yes` nodes on free ports, joins them
 * with `redis-cli --cluster create … --cluster-yes` and waits until every slot is served.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterSetup> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const log = options.log ?? (() => {});
  const root = options.dir ?? mkdtempSync(join(tmpdir(), 'crtrail-rcluster-'));
  const nodes: RedisNode[] = [];
  const living = (): RedisNode[] => nodes.filter((n) => n.alive);
  const stopAll = async (): Promise<void> => {
    await Promise.all(
      living().map(async (n) => {
        n.alive = false;
        await n.process.stop();
      }),
    );
    if (!options.dir) rmSync(root, { recursive: true, force: true });
  };
  const servingMasters = (): string[][] => {
    const node = living()[0];
    if (!node) throw new Error('no node of the Redis Cluster is running');
    return (
      redisCli(node.port, ['CLUSTER', 'NODES'])
        .split('\n')
        .map((l) => l.trim().split(' '))
        // <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>…: a master serving slots.
        .filter((f) => f.length > 8 && (f[2] ?? '').split(',').includes('master') && !(f[2] ?? '').includes('fail'))
    );
  };
  const portOf = (f: string[]): number => Number(/:(\d+)@/.exec(f[1] ?? '')?.[1]);
  const masterPorts = (): number[] => servingMasters().map(portOf);
  const masterOfSlot = (slot: number): number | undefined => {
    const owner = servingMasters().find((f) =>
      f.slice(8).some((range) => {
        const [from, to] = range.split('-').map(Number);
        return from !== undefined && slot >= from && slot <= (to ?? from);
      }),
    );
    return owner ? portOf(owner) : undefined;
  };
  // Healthy: every slot served (cluster_state:ok) by as many masters as at the start, all of them
  // running. Right after a kill the others still count the dead master in until its node timeout.
  const waitHealthy = (timeoutMs = 60_000): Promise<void> =>
    waitFor(
      'Redis Cluster state ok',
      () => {
        if (!living().every((n) => infoFields(redisCli(n.port, ['CLUSTER', 'INFO'])).get('cluster_state') === 'ok'))
          return false;
        const ports = masterPorts();
        return ports.length === masters && ports.every((p) => living().some((n) => n.port === p));
      },
      timeoutMs,
    );
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freeTcpPort();
      const dir = join(root, `node-${port}`);
      mkdirSync(dir, { recursive: true });
      const args = [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-node-timeout',
        String(NODE_TIMEOUT_MS),
      ];
      const node: RedisNode = {
        port,
        process: await startRedisServer(port, { persistent: true, dir, args }),
        alive: true,
      };
      void node.process.exited.then(() => (node.alive = false));
      nodes.push(node);
    }
    const create = run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${(create.stdout + create.stderr).slice(-1500)}`);
    await waitHealthy();
    // A replica that never synced does not take over its master (its data counts as too old): wait for every link.
    await waitFor(
      'Redis Cluster replicas in sync',
      () => {
        const linked = nodes.filter((n) => {
          const info = infoFields(redisCli(n.port, ['INFO', 'replication']));
          return info.get('role') === 'slave' && info.get('master_link_status') === 'up';
        });
        return linked.length === masters * replicas;
      },
      60_000,
    );
    log(`Redis Cluster: ${masters} masters, ${replicas} replica(s) each, on ${nodes.map((n) => n.port).join(', ')}`);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    nodes,
    env: { CRTRAIL_REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(',') },
    masterPorts,
    masterOfSlot,
    async kill(node) {
      node.alive = false;
      await killNode(node.process);
    },
    waitHealthy,
    stop: stopAll,
  };
}
