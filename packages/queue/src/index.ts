import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { AuditEvent } from '@crtrail/audit';

/** One webhook POST = one job: the apiserver's batch, split by the worker (keeps Redis load low). */
export interface BatchJob {
  cluster: string;
  /** Epoch ms when the webhook acked the batch (pipeline lag is measured from here). */
  receivedAt: number;
  events: AuditEvent[];
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

export function queueName(prefix: string): string {
  return `${prefix}-batches`;
}

/** Key of the dead-letter list (records Elasticsearch refused for good). */
export function dlqKey(prefix: string): string {
  return `${prefix}:dlq`;
}

export const defaultJobOptions: JobsOptions = {
  attempts: JOB_RETRY.attempts,
  backoff: { type: 'crtrail' },
  // Completed batches are not needed once indexed; keep a few for inspection.
  removeOnComplete: { count: 100 },
  // Failed batches are kept: they are re-drivable evidence, never silently dropped.
  removeOnFail: false,
};

/** Capped exponential backoff for BullMQ's custom `backoffStrategy`. */
export function jobBackoff(attemptsMade: number): number {
  return Math.min(JOB_RETRY.maxDelayMs, JOB_RETRY.initialDelayMs * JOB_RETRY.factor ** Math.max(0, attemptsMade - 1));
}

/**
 * An ioredis connection as BullMQ needs it. `maxRetriesPerRequest: null` is required by workers
 * (blocking commands); producers pass a number so a request fails fast while Redis is away.
 */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...options });
}

export function createBatchQueue(prefix: string, connection: ConnectionOptions | Redis): Queue<BatchJob> {
  return new Queue<BatchJob>(queueName(prefix), { connection: connection as ConnectionOptions, defaultJobOptions });
}

/**
 * The salt of redaction hashes: `CRTRAIL_REDACTION_SALT`, else one generated once per deployment and
 * kept in Redis (`<prefix>:redaction-salt`) so every webhook and worker — and every restart — hashes
 * alike. It never goes to Elasticsearch, the logs or the dead letters, where the hashes are.
 */
export async function redactionSalt(redis: Redis, prefix: string, fromEnv: string | undefined): Promise<string> {
  if (fromEnv) return fromEnv;
  const key = `${prefix}:redaction-salt`;
  await redis.set(key, randomBytes(32).toString('hex'), 'NX');
  const salt = await redis.get(key);
  if (!salt) throw new Error(`could not read ${key} from Redis`);
  return salt;
}
export * from './lua.js';
export { kindsKey, RedisKindTable } from './kinds.js';
