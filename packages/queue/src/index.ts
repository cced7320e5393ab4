import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { deploymentTag, isRedisCluster, type RedisClient } from './connection.js';
import { backoff, type AuditEvent } from '@crtrail/audit';

/**
 * A part of one webhook POST: the apiserver's batch, cut into jobs bounded in events and bytes
 * ({@link JOB_BOUNDS}), all written in one Redis transaction. A small batch is one job.
 */
export interface BatchJob {
  cluster: string;
  /** Epoch ms when the webhook acked the batch (pipeline lag is measured from here). */
  receivedAt: number;
  events: AuditEvent[];
  /**
   * At most this many bytes of JSON in `events` (the webhook's measure or bound of them): a worker
   * joins small jobs into one unit only up to the size of one full job. Absent on jobs of older
   * webhooks (such a job is processed alone).
   */
  bytes?: number;
  /** Id of the POST this job is a part of (the same on all its parts). Absent on jobs of older webhooks. */
  batch?: string;
  /** 1-based index of this part among `parts`. */
  part?: number;
  parts?: number;
}

export const JOB_NAME = 'batch';

/** Retry policy of a batch whose processing failed (Elasticsearch down, Redis hiccup). */
export const JOB_RETRY = Object.freeze({
  /** ~1 h of retries with the capped backoff below before a job lands in the failed set. */
  attempts: 150,
  initialDelayMs: 500,
  factor: 2,
  maxDelayMs: 30_000,
});

/**
 * The batch queue of a prefix: `<prefix>-batches`, or in Redis Cluster mode `{<prefix>}-batches`, so
 * BullMQ's keys (`bull:{<prefix>}-batches:*`) share the slot of crtrail's own keys (`{<prefix>}:*`).
 */
export function queueName(prefix: string, redisCluster = false): string {
  return `${deploymentTag(prefix, redisCluster)}-batches`;
}

/**
 * The alert queue of a prefix, beside `<prefix>-batches`: `<prefix>-alerts` (hash-tagged like it in
 * Redis Cluster mode). Here, not with the alert consumer, because `dlq list` reads its failed set.
 */
export function alertQueueName(prefix: string, redisCluster = false): string {
  return `${deploymentTag(prefix, redisCluster)}-alerts`;
}

export const defaultJobOptions: JobsOptions = {
  attempts: JOB_RETRY.attempts,
  backoff: { type: 'crtrail' },
  // Completed batches are not needed once indexed; keep a few for inspection.
  removeOnComplete: { count: 100 },
  // Failed batches are kept: they are re-drivable evidence, never silently dropped.
  removeOnFail: false,
};

/**
 * How a crashed, killed or stalled job is retried (BullMQ Worker options). A job whose worker dies
 * (OOM, kill -9) keeps its lock until `lockDuration` ends; the stalled check (every
 * `stalledInterval`) then puts it back to wait WITHOUT counting an attempt (BullMQ counts it in the
 * job's `stc` instead) and fails it only beyond `maxStalledCount` stalls. BullMQ's default (1)
 * fails a batch at its second crash, a verdict after seconds where any other failure gets ~1 h.
 * So BullMQ's own limit is set out of reach, and the worker counts stalls and failed attempts
 * together against the one budget of {@link JOB_RETRY}.attempts (see `retryBudgetLeft`).
 */
export const STALL_RETRY = Object.freeze({
  maxStalledCount: JOB_RETRY.attempts + 1,
});

/** Attempts a job has used: failed attempts plus crashes/stalls (which BullMQ does not count as attempts). */
export function attemptsUsed(job: { attemptsMade: number; stalledCounter?: number }): number {
  return job.attemptsMade + (job.stalledCounter ?? 0);
}

/** Capped exponential backoff for BullMQ's custom `backoffStrategy`. */
export function jobBackoff(attemptsMade: number): number {
  // BullMQ asks after the failure, with that attempt already counted: the first retry waits the initial delay.
  return backoff(JOB_RETRY, Math.max(0, attemptsMade - 1));
}

/** The batch queue on `connection` (its name tagged when that is a Redis Cluster connection). */
export function createBatchQueue(prefix: string, connection: RedisClient): Queue<BatchJob> {
  return new Queue<BatchJob>(queueName(prefix, isRedisCluster(connection)), {
    connection: connection as ConnectionOptions,
    defaultJobOptions,
  });
}
/** The alert queue on `connection`, to read and re-drive its failed set (the consumer sets its own job options). */
export function openAlertQueue(prefix: string, connection: RedisClient): Queue {
  return new Queue(alertQueueName(prefix, isRedisCluster(connection)), { connection: connection as ConnectionOptions });
}
export { addEncodedJobsAtomically, addJobsAtomically } from './atomic.js';
export { persistenceWarning, redactUrl, redisPersistence, type RedisPersistence } from './persistence.js';
export { JOB_BOUNDS, splitBySize, splitEvents, type JobBounds, type JobChunk } from './split.js';
export {
  createRedis,
  createRedisClient,
  deploymentTag,
  isRedisCluster,
  describeRedis,
  redisPlan,
  redisTargetFromEnv,
  RedisModeError,
  type RedisAuth,
  type RedisClient,
  type RedisEnv,
  type RedisPlan,
  type RedisTarget,
} from './connection.js';
export { pingRedis } from './ping.js';
export { clusterReady, keySlot, masterOfKey, masters } from './nodes.js';
