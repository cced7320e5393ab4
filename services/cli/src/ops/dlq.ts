import type { Env } from '@crtrail/config';
import { createBatchQueue, createRedis, describeRedis, redisTargetFromEnv } from '@crtrail/queue';
import { createEsClient, esConnectionFromEnv } from '@crtrail/store';
import { listDlqEntries, listFailedBatches, replayDeadLetters, replayFailedBatches } from '@crtrail/state';
import { CliError } from '../errors.js';

/** Failed batches are named `batch:<job id>` in `dlq list`, next to the dead letters' own ids. */
export const BATCH = 'batch:';

/** Redis for the dead letters, or an error naming it and its variable (no ioredis retry noise). */
async function connect(env: Env) {
  const target = redisTargetFromEnv(env);
  const redis = createRedis(target, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null, connectTimeout: 5_000 });
  let cause: Error | undefined;
  redis.on('error', (err: Error) => {
    cause ??= err; // reported below, once
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new CliError(`Redis at ${describeRedis(target)} does not answer (CRTRAIL_REDIS_URL): ${(cause ?? (err as Error)).message}`);
  }
  const queue = createBatchQueue(env.CRTRAIL_INDEX_PREFIX, redis);
  queue.on('error', () => {});
  return { redis, queue, async close() { await queue.close(); redis.disconnect(); } };
}

/** `crtrail dlq list`: the dead letters, then the batches whose processing finally failed. */
export async function listDlq(env: Env) {
  const c = await connect(env);
  try {
    const letters = await listDlqEntries(c.redis, env.CRTRAIL_INDEX_PREFIX);
    const batches = await listFailedBatches(c.queue, c.redis, env.CRTRAIL_INDEX_PREFIX);
    return { letters, batches };
  } finally {
    await c.close();
  }
}

/**
 * `crtrail dlq replay`: re-drives the dead letters and failed batches, or only the entry `id` (a
 * `batch:<job id>` names a failed batch, anything else a dead letter).
 */
export async function replayDlq(env: Env, id: string | undefined) {
  const c = await connect(env);
  const es = createEsClient(esConnectionFromEnv(env));
  try {
    const onlyBatch = id?.startsWith(BATCH) ? id.slice(BATCH.length) : undefined;
    const letters = onlyBatch !== undefined ? { tried: 0, indexed: 0, duplicates: 0, requeued: 0, stillFailing: [] } : await replayDeadLetters(c.redis, es, env.CRTRAIL_INDEX_PREFIX, id);
    const batches = id === undefined || onlyBatch !== undefined ? await replayFailedBatches(c.queue, c.redis, env.CRTRAIL_INDEX_PREFIX, onlyBatch) : 0;
    return { letters, batches };
  } finally {
    await c.close();
    await es.close();
  }
}
