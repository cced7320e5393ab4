import type { Client } from '@elastic/elasticsearch';
import type { Env } from '@crtrail/config';
import {
  createBatchQueue,
  createRedis,
  describeRedis,
  JOB_NAME,
  openAlertQueue,
  redisTargetFromEnv,
  type BatchJob,
} from '@crtrail/queue';
import { bulkWrite, createEsClient, esConnectionFromEnv, indexNames, RecordLocator } from '@crtrail/store';
import {
  listDlqEntries,
  listFailedAlerts,
  listFailedBatches,
  retryFailedAlerts,
  removeDlqEntry,
  replaceDlqEntry,
  replayFailedBatches,
  storedDlqEntries,
} from '@crtrail/state';
import { CliError } from '../errors.js';

/** Failed batches are named `batch:<job id>` in `dlq list`, next to the dead letters' own ids. */
export const BATCH = 'batch:';
/** Alert messages that finally failed are named `alert:<job id>`. */
export const ALERT = 'alert:';

/** Redis for the dead letters, or an error naming it and its variable (no ioredis retry noise). */
async function connect(env: Env) {
  const target = redisTargetFromEnv(env);
  const redis = createRedis(target, {
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    retryStrategy: () => null,
    connectTimeout: 5_000,
  });
  let cause: Error | undefined;
  redis.on('error', (err: Error) => {
    cause ??= err; // reported below, once
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new CliError(
      `Redis at ${describeRedis(target)} does not answer (CRTRAIL_REDIS_URL): ${(cause ?? (err as Error)).message}`,
    );
  }
  const queue = createBatchQueue(env.CRTRAIL_INDEX_PREFIX, redis);
  queue.on('error', () => {});
  const alerts = openAlertQueue(env.CRTRAIL_INDEX_PREFIX, redis);
  alerts.on('error', () => {});
  return {
    redis,
    queue,
    alerts,
    async close() {
      await queue.close();
      await alerts.close();
      redis.disconnect();
    },
  };
}

/**
 * `crtrail dlq list`: the dead letters, the batches whose processing finally failed, then the alert
 * messages no sink took.
 */
export async function listDlq(env: Env) {
  const c = await connect(env);
  try {
    const letters = await listDlqEntries(c.redis, env.CRTRAIL_INDEX_PREFIX);
    const batches = await listFailedBatches(c.queue, c.redis, env.CRTRAIL_INDEX_PREFIX);
    const alerts = await listFailedAlerts(c.alerts, c.redis, env.CRTRAIL_INDEX_PREFIX);
    return { letters, batches, alerts };
  } finally {
    await c.close();
  }
}

/**
 * `crtrail dlq replay`: re-drives the dead letters, failed batches and failed alerts, or only the
 * entry `id` (a `batch:<job id>` names a failed batch, an `alert:<job id>` a failed alert, anything
 * else a dead letter). A failed alert goes back to the alert queue, which the worker sends from.
 */
export async function replayDlq(env: Env, id: string | undefined) {
  const c = await connect(env);
  const es = createEsClient(esConnectionFromEnv(env));
  try {
    const onlyBatch = id?.startsWith(BATCH) ? id.slice(BATCH.length) : undefined;
    const onlyAlert = id?.startsWith(ALERT) ? id.slice(ALERT.length) : undefined;
    const letters =
      onlyBatch !== undefined || onlyAlert !== undefined
        ? { tried: 0, indexed: 0, duplicates: 0, requeued: 0, stillFailing: [] }
        : await replayDeadLetters(c.redis, c.queue, es, env.CRTRAIL_INDEX_PREFIX, id);
    const batches =
      id === undefined || onlyBatch !== undefined
        ? await replayFailedBatches(c.queue, c.redis, env.CRTRAIL_INDEX_PREFIX, onlyBatch)
        : 0;
    const alerts = id === undefined || onlyAlert !== undefined ? await retryFailedAlerts(c.alerts, onlyAlert) : 0;
    return { letters, batches, alerts };
  } finally {
    await c.close();
    await es.close();
  }
}

export interface ReplayResult {
  tried: number;
  indexed: number;
  duplicates: number;
  /** Event dead letters enqueued again as jobs (the worker processes them like any batch). */
  requeued: number;
  stillFailing: Array<{ id: string; reason: string }>;
}

/**
 * Re-drives dead letters (all, or the one with `id`) after a fix (mapping, size limit, a bug). A
 * refused record is written again; it leaves the list only once Elasticsearch took it (or already
 * had it), one still refused stays with its new reason. An event is enqueued again as a job of its
 * own and leaves the list (should it fail again, it comes back as a new entry). Here, not in
 * @crtrail/state, because it joins Redis (the list, the queue) and Elasticsearch (the write).
 */
export async function replayDeadLetters(
  redis: ReturnType<typeof createRedis>,
  queue: ReturnType<typeof createBatchQueue>,
  es: Client,
  prefix: string,
  id?: string,
): Promise<ReplayResult> {
  const chosen = (await storedDlqEntries(redis, prefix)).filter((e) => id === undefined || e.entry.id === id);
  const result: ReplayResult = { tried: chosen.length, indexed: 0, duplicates: 0, requeued: 0, stillFailing: [] };
  const alias = indexNames(prefix).alias;
  const locator = new RecordLocator(es, alias);
  for (const { raw, entry: letter } of chosen) {
    if (letter.type === 'event') {
      await queue.add(JOB_NAME, {
        cluster: letter.cluster,
        receivedAt: Date.now(),
        events: [letter.event],
      } satisfies BatchJob);
      await removeDlqEntry(redis, prefix, raw);
      result.requeued++;
      continue;
    }
    const stats = await bulkWrite(es, alias, [letter.action], 'wait_for', locator);
    const refused = stats.rejected[0];
    if (!refused) {
      result.indexed += stats.created + stats.updated;
      result.duplicates += stats.duplicates;
      await removeDlqEntry(redis, prefix, raw);
    } else {
      result.stillFailing.push({ id: letter.id, reason: refused.reason });
      await replaceDlqEntry(redis, prefix, raw, {
        ...letter,
        reason: refused.reason,
        replays: (letter.replays ?? 0) + 1,
        at: new Date().toISOString(),
      });
    }
  }
  return result;
}
