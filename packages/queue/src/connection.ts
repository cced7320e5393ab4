import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseHostPorts, type HostPort } from '@crtrail/config';

/** The CRTRAIL_REDIS_* variables the connection factory reads (a subset of `Env`). */
export interface RedisEnv {
  CRTRAIL_REDIS_URL: string;
  CRTRAIL_REDIS_USERNAME?: string | undefined;
  CRTRAIL_REDIS_PASSWORD?: string | undefined;
  CRTRAIL_REDIS_CA?: string | undefined;
  CRTRAIL_REDIS_SENTINELS?: string | undefined;
  CRTRAIL_REDIS_SENTINEL_NAME?: string | undefined;
  CRTRAIL_REDIS_SENTINEL_PASSWORD?: string | undefined;
  CRTRAIL_REDIS_CLUSTER_NODES?: string | undefined;
}

/** Credentials and TLS, the same for every node of a deployment. */
export interface RedisAuth {
  username?: string;
  password?: string;
  /** Set for `rediss://`: TLS options (the CA of CRTRAIL_REDIS_CA, else the system's). */
  tls?: TlsOptions;
}

/** Which Redis crtrail talks to, read from the environment once ({@link redisTargetFromEnv}). */
export type RedisTarget =
  | { mode: 'single'; url: string; auth: RedisAuth }
  | { mode: 'sentinel'; sentinels: HostPort[]; name: string; db: number; sentinelPassword?: string; auth: RedisAuth }
  | { mode: 'cluster'; nodes: HostPort[]; auth: RedisAuth };

/**
 * What {@link createRedisClient} builds for a target: the arguments of `new Redis(...)` or of
 * `new Cluster(...)`. Kept apart (and pure) so the choice of mode and options can be tested without a server.
 */
export type RedisPlan =
  | { kind: 'redis'; url?: string; options: RedisOptions }
  | { kind: 'cluster'; nodes: HostPort[]; options: ClusterOptions };

/** A connection of any mode: one node or Sentinel's master (`Redis`), or a Redis Cluster (`Cluster`). */
export type RedisClient = Redis | Cluster;

/** Whether `redis` is a Redis Cluster connection (then keys must be hash-tagged, see {@link deploymentTag}). */
export function isRedisCluster(redis: RedisClient): redis is Cluster {
  return (redis as { isCluster?: boolean }).isCluster === true;
}

/**
 * The start of every Redis key of a deployment: its prefix, or in Redis Cluster mode the hash tag
 * `{<prefix>}`. A tag puts the whole deployment in ONE slot (one master and its replicas): BullMQ's
 * scripts need all of a queue's keys in one slot anyway, and crtrail's scripts take a batch's objects'
 * locks, histories and chain together atomically, which a split over slots would lose. Single-node and
 * Sentinel keys stay untagged so an existing deployment finds its data after an upgrade.
 */
export function deploymentTag(prefix: string, redisCluster: boolean): string {
  return redisCluster ? `{${prefix}}` : prefix;
}

export class RedisModeError extends Error {
  readonly code = 'CRTRAIL_ERR_REDIS_MODE';
  constructor(message: string) {
    super(message);
    this.name = 'RedisModeError';
  }
}

function authFromEnv(env: RedisEnv): RedisAuth {
  const auth: RedisAuth = {};
  const u = new URL(env.CRTRAIL_REDIS_URL);
  // Credentials in the URL apply in every mode; the variables (a Secret, say) win over them.
  const username = env.CRTRAIL_REDIS_USERNAME ?? (u.username ? decodeURIComponent(u.username) : undefined);
  const password = env.CRTRAIL_REDIS_PASSWORD ?? (u.password ? decodeURIComponent(u.password) : undefined);
  if (username) auth.username = username;
  if (password) auth.password = password;
  if (u.protocol === 'rediss:') {
    let ca: Buffer | undefined;
    if (env.CRTRAIL_REDIS_CA) {
      try {
        ca = readFileSync(env.CRTRAIL_REDIS_CA);
      } catch (err) {
        throw new RedisModeError(
          `CRTRAIL_REDIS_CA=${env.CRTRAIL_REDIS_CA}: cannot read it (${(err as Error).message})`,
        );
      }
    }
    auth.tls = ca ? { ca } : {};
  }
  return auth;
}

/**
 * Reads which Redis to use: Cluster when CRTRAIL_REDIS_CLUSTER_NODES is set, Sentinel when
 * CRTRAIL_REDIS_SENTINELS is, else the single node of CRTRAIL_REDIS_URL. Credentials (URL or
 * CRTRAIL_REDIS_USERNAME/PASSWORD) and TLS (`rediss://`, CRTRAIL_REDIS_CA) apply to every mode.
 * Expects an environment `loadEnv` validated (lists well-formed, sentinels with a name).
 */
export function redisTargetFromEnv(env: RedisEnv): RedisTarget {
  const auth = authFromEnv(env);
  if (env.CRTRAIL_REDIS_CLUSTER_NODES)
    return { mode: 'cluster', nodes: parseHostPorts(env.CRTRAIL_REDIS_CLUSTER_NODES), auth };
  if (env.CRTRAIL_REDIS_SENTINELS) {
    if (!env.CRTRAIL_REDIS_SENTINEL_NAME)
      throw new RedisModeError('CRTRAIL_REDIS_SENTINELS needs CRTRAIL_REDIS_SENTINEL_NAME (the master set)');
    const db = Number(new URL(env.CRTRAIL_REDIS_URL).pathname.slice(1) || 0);
    return {
      mode: 'sentinel',
      sentinels: parseHostPorts(env.CRTRAIL_REDIS_SENTINELS),
      name: env.CRTRAIL_REDIS_SENTINEL_NAME,
      db,
      ...(env.CRTRAIL_REDIS_SENTINEL_PASSWORD ? { sentinelPassword: env.CRTRAIL_REDIS_SENTINEL_PASSWORD } : {}),
      auth,
    };
  }
  return { mode: 'single', url: env.CRTRAIL_REDIS_URL, auth };
}

const hostPort = (n: HostPort): string => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`);

/** The target as a person reads it in a log or an error, without any password. */
export function describeRedis(target: RedisTarget | string): string {
  const t = typeof target === 'string' ? ({ mode: 'single', url: target, auth: {} } as const) : target;
  switch (t.mode) {
    case 'single':
      return redactRedisUrl(t.url);
    case 'sentinel':
      return `Sentinel master ${t.name} (sentinels ${t.sentinels.map(hostPort).join(', ')})${t.auth.tls ? ' over TLS' : ''}`;
    case 'cluster':
      return `Redis Cluster (seed nodes ${t.nodes.map(hostPort).join(', ')})${t.auth.tls ? ' over TLS' : ''}`;
  }
}

function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

// ioredis takes these at the Cluster level; every other RedisOptions key goes to each node's connection.
const CLUSTER_LEVEL = ['enableOfflineQueue', 'enableReadyCheck', 'lazyConnect'] as const;

/**
 * The constructor arguments for `target` with the caller's options over crtrail's defaults
 * (`maxRetriesPerRequest: null`, which BullMQ workers need for blocking commands; producers pass a
 * number so a request fails fast while Redis is away; `enableReadyCheck: true`).
 */
export function redisPlan(target: RedisTarget, options: RedisOptions = {}): RedisPlan {
  const { tls, ...credentials } = target.auth;
  const base: RedisOptions = {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    ...credentials,
    ...(tls ? { tls } : {}),
    ...options,
  };
  switch (target.mode) {
    case 'single':
      return { kind: 'redis', url: target.url, options: base };
    case 'sentinel':
      return {
        kind: 'redis',
        options: {
          ...base,
          sentinels: target.sentinels.map((n) => ({ host: n.host, port: n.port })),
          name: target.name,
          db: target.db,
          role: 'master',
          // Subscribes to +switch-master: leaves a demoted master at once instead of at its next error.
          failoverDetector: true,
          ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
          ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
        },
      };
    case 'cluster': {
      const { retryStrategy, ...rest } = base;
      const clusterLevel: ClusterOptions = {};
      const redisOptions: RedisOptions = { ...rest };
      for (const key of CLUSTER_LEVEL) {
        if (key in rest) {
          (clusterLevel as Record<string, unknown>)[key] = rest[key];
          // Moved, not copied: the nodes' connections get only node-level options. The key is one
          // of the fixed CLUSTER_LEVEL names, so nothing arbitrary is deleted.
          // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
          delete redisOptions[key];
        }
      }
      return {
        kind: 'cluster',
        nodes: target.nodes,
        options: {
          ...clusterLevel,
          redisOptions,
          ...(retryStrategy !== undefined ? { clusterRetryStrategy: retryStrategy } : {}),
          // TLS certificates name the hosts the nodes announce: connect to them, not to a resolved IP
          // (what managed Redis Clusters behind one DNS name require).
          ...(tls
            ? {
                dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) =>
                  callback(null, address),
              }
            : {}),
        },
      };
    }
  }
}

/**
 * A connection of any mode, including Redis Cluster (an ioredis `Cluster`): the arguments of
 * {@link redisPlan}, with nothing refused.
 */
export function createRedisClient(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  const plan = redisPlan(target, options);
  if (plan.kind === 'cluster') return new Cluster(plan.nodes, plan.options);
  return plan.url ? new Redis(plan.url, plan.options) : new Redis(plan.options);
}

/**
 * The one way crtrail opens a Redis connection (webhook, worker, CLI): a single node (a URL), the
 * master a set of sentinels names (followed across failovers), or a Redis Cluster (every key of the
 * deployment then tagged, see {@link deploymentTag}). A string is a single node's URL.
 */
export function createRedis(target: RedisTarget | string, options: RedisOptions = {}): RedisClient {
  return createRedisClient(typeof target === 'string' ? { mode: 'single', url: target, auth: {} } : target, options);
}
