import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTcpPort, infoFields, killNode, redisCli, waitFor } from './nodes.js';
import { pingRedis } from './probe.js';
import { spawnManaged, type Managed } from './process.js';
import { startRedisServer } from './redis.js';

/** One redis-server of a harness: its port, and the process while it runs. */
export interface RedisNode {
  port: number;
  process: Managed;
  /** False once {@link RedisSentinelSetup.kill} or stop() ended it. */
  alive: boolean;
}

export interface RedisSentinelOptions {
  /** Name of the master set the sentinels monitor (CRTRAIL_REDIS_SENTINEL_NAME). Default `crtrail`. */
  name?: string;
  /** Replicas of the master. Default 2. */
  replicas?: number;
  /** Sentinels (quorum: a majority of them). Default 3. */
  sentinels?: number;
  /** Parent folder of the data folders (a fresh temp folder, removed by stop(), by default). */
  dir?: string;
  log?: (m: string) => void;
}

/** A running master + replicas + sentinels on 127.0.0.1, every node with `appendonly yes`. */
export interface RedisSentinelSetup {
  name: string;
  /** The initial master first, then the replicas. */
  nodes: RedisNode[];
  sentinels: RedisNode[];
  /** `CRTRAIL_REDIS_SENTINELS` + `CRTRAIL_REDIS_SENTINEL_NAME` for crtrail processes. */
  env: { CRTRAIL_REDIS_SENTINELS: string; CRTRAIL_REDIS_SENTINEL_NAME: string };
  /** Port of the master the sentinels currently name. */
  masterPort(): number;
  /** SIGKILLs a data node (no shutdown, no AOF rewrite). */
  kill(node: RedisNode): Promise<void>;
  /** Waits until the sentinels name a master other than `oldPort` and that node answers as a master. */
  waitForFailover(oldPort: number, timeoutMs?: number): Promise<number>;
  /** Stops every process and removes the data folders (unless `dir` was given). */
  stop(): Promise<void>;
}

// Failover within seconds: a master silent for 1 s is subjectively down; the quorum then elects.
const DOWN_AFTER_MS = 1_000;
const FAILOVER_TIMEOUT_MS = 10_000;

/**
 * Starts a Redis Sentinel deployment from the `redis-server` binary (a sentinel is `redis-server
 * <conf> --sentinel`): one master, `replicas` replicas of it, `sentinels` sentinels, on free ports,
 * and waits until every replica is in sync and every sentinel sees the others and the replicas.
 */
export async function startRedisSentinel(options: RedisSentinelOptions = {}): Promise<RedisSentinelSetup> {
  const name = options.name ?? 'crtrail';
  const log = options.log ?? (() => {});
  const root = options.dir ?? mkdtempSync(join(tmpdir(), 'crtrail-sentinel-'));
  const nodes: RedisNode[] = [];
  const sentinels: RedisNode[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(
      [...sentinels, ...nodes]
        .filter((n) => n.alive)
        .map(async (n) => {
          n.alive = false;
          await n.process.stop();
        }),
    );
    if (!options.dir) rmSync(root, { recursive: true, force: true });
  };
  const startNode = async (args: string[]): Promise<RedisNode> => {
    const port = await freeTcpPort();
    const dir = join(root, `redis-${port}`);
    mkdirSync(dir, { recursive: true });
    const node: RedisNode = {
      port,
      process: await startRedisServer(port, { persistent: true, dir, args }),
      alive: true,
    };
    void node.process.exited.then(() => (node.alive = false));
    return node;
  };
  try {
    const master = await startNode([]);
    nodes.push(master);
    for (let i = 0; i < (options.replicas ?? 2); i++)
      nodes.push(await startNode(['--replicaof', '127.0.0.1', String(master.port)]));
    await waitFor(
      'replicas in sync',
      () => {
        const info = infoFields(redisCli(master.port, ['INFO', 'replication']));
        return (
          Number(info.get('connected_slaves') ?? 0) === nodes.length - 1 &&
          [...info.entries()].filter(([k, v]) => /^slave\d+$/.test(k) && v.includes('state=online')).length ===
            nodes.length - 1
        );
      },
      30_000,
    );
    for (let i = 0; i < (options.sentinels ?? 3); i++) {
      const port = await freeTcpPort();
      const dir = join(root, `sentinel-${port}`);
      mkdirSync(dir, { recursive: true });
      const conf = join(dir, 'sentinel.conf');
      // Sentinels rewrite their config file (discovered peers, epochs): each gets its own, writable.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${master.port} ${Math.floor((options.sentinels ?? 3) / 2) + 1}`,
          `sentinel down-after-milliseconds ${name} ${DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${name} ${FAILOVER_TIMEOUT_MS}`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const proc = spawnManaged('redis-sentinel', 'redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
      const node: RedisNode = { port, process: proc, alive: true };
      void proc.exited.then(() => (node.alive = false));
      sentinels.push(node);
      await waitFor(`sentinel on ${port}`, () => pingRedis(`redis://127.0.0.1:${port}`, 500), 10_000);
    }
    await waitFor(
      'sentinels agree on the set',
      () =>
        sentinels.every((s) => {
          const lines = redisCli(s.port, ['SENTINEL', 'master', name]).trim().split('\n');
          const fields = new Map<string, string>();
          for (let i = 0; i + 1 < lines.length; i += 2) fields.set(lines[i]!, lines[i + 1]!);
          return (
            Number(fields.get('num-slaves')) === nodes.length - 1 &&
            Number(fields.get('num-other-sentinels')) === sentinels.length - 1
          );
        }),
      30_000,
    );
    log(
      `Redis Sentinel ${name}: master 127.0.0.1:${master.port}, replicas ${nodes
        .slice(1)
        .map((n) => n.port)
        .join(', ')}, sentinels ${sentinels.map((s) => s.port).join(', ')}`,
    );
  } catch (err) {
    await stopAll();
    throw err;
  }
  const masterPort = (): number => {
    for (const s of sentinels.filter((x) => x.alive)) {
      try {
        const [, port] = redisCli(s.port, ['SENTINEL', 'get-master-addr-by-name', name]).trim().split('\n');
        if (port) return Number(port);
      } catch {
        /* ask the next sentinel */
      }
    }
    throw new Error(`no sentinel of ${name} answers`);
  };
  return {
    name,
    nodes,
    sentinels,
    env: {
      CRTRAIL_REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      CRTRAIL_REDIS_SENTINEL_NAME: name,
    },
    masterPort,
    async kill(node) {
      node.alive = false;
      await killNode(node.process);
    },
    async waitForFailover(oldPort, timeoutMs = 60_000) {
      let port = oldPort;
      await waitFor(
        `failover of ${name} away from ${oldPort}`,
        () => {
          port = masterPort();
          return port !== oldPort && redisCli(port, ['ROLE']).startsWith('master');
        },
        timeoutMs,
      );
      log(`Redis Sentinel ${name}: failed over from ${oldPort} to ${port}`);
      return port;
    },
    stop: stopAll,
  };
}
