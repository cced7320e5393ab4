import calculateSlot from 'cluster-key-slot';
import type { Redis } from 'ioredis';
import { isRedisCluster, type RedisClient } from './connection.js';

/** The Redis Cluster slot of `key` (CRC16 of its `{hash tag}` when it has one), as the server computes it. */
export function keySlot(key: string): number {
  return calculateSlot(key);
}

/**
 * The connection to the master that owns `key`'s slot now, for commands that concern "this
 * client's writes to that node" and carry no key themselves (WAIT). On a single node or a Sentinel
 * master, the connection itself. Undefined while a cluster has no slot map yet (not connected).
 */
export function masterOfKey(redis: RedisClient, key: string): Redis | undefined {
  if (!isRedisCluster(redis)) return redis;
  const owner = redis.slots[keySlot(key)]?.[0];
  if (!owner) return undefined;
  return redis.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
}

/** Every master: one connection on a single node or Sentinel, each master's own in a Redis Cluster. */
export function masters(redis: RedisClient): Redis[] {
  return isRedisCluster(redis) ? redis.nodes('master') : [redis];
}

/**
 * Resolves once a Redis Cluster connection has its slot map (at once for any other connection), so
 * that {@link masters} and {@link masterOfKey} see the nodes; rejects after `timeoutMs`.
 */
export function clusterReady(redis: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (!isRedisCluster(redis) || redis.status === 'ready') return Promise.resolve();
  const cluster = redis;
  return new Promise((resolveReady, reject) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolveReady();
    };
    const timer = setTimeout(() => {
      cluster.off('ready', onReady);
      reject(new Error(`Redis Cluster not ready within ${timeoutMs / 1000}s`));
    }, timeoutMs);
    cluster.once('ready', onReady);
  });
}
