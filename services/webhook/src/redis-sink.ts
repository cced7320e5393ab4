import type { Queue } from 'bullmq';
import {
  addEncodedJobsAtomically,
  createBatchQueue,
  createRedis,
  JOB_NAME,
  masterOfKey,
  persistenceWarning,
  redisPersistence,
  type BatchJob,
  type RedisClient,
  type RedisPersistence,
  type RedisTarget,
} from '@crtrail/queue';
import { redactionSalt, RedisKindTable } from '@crtrail/state';
import { ReplicasBehindError, type BatchSink, type SinkPersistence } from './batch-sink.js';

// Everything the webhook knows of BullMQ and Redis is in this file: the routes see a BatchSink.

/** How long `WAIT <replicas>` may wait for replicas to confirm a batch before the answer is 503. */
export const WAIT_REPLICAS_TIMEOUT_MS = 1_000;

export interface RedisSinkOptions {
  /**
   * After writing a batch, `WAIT` for this many replicas to have it (CRTRAIL_REDIS_WAIT_REPLICAS);
   * fewer within {@link WAIT_REPLICAS_TIMEOUT_MS} (or `waitTimeoutMs`) → {@link ReplicasBehindError}. 0 = do not wait.
   */
  waitReplicas?: number;
  waitTimeoutMs?: number;
  /** The Redis URL, as named in the persistence warning (password hidden). */
  url?: string;
}

/** The batch queue of the workers, on Redis: jobs written in one transaction, optionally confirmed by replicas. */
export class RedisBatchSink implements BatchSink {
  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;

  constructor(
    readonly queue: Queue<BatchJob>,
    /** The connection used for readiness checks. */
    private readonly redis: RedisClient,
    private readonly options: RedisSinkOptions = {},
  ) {
    this.waitReplicas = options.waitReplicas ?? 0;
    this.waitTimeoutMs = options.waitTimeoutMs ?? WAIT_REPLICAS_TIMEOUT_MS;
  }

  async add(jobs: readonly Buffer[]): Promise<void> {
    if (jobs.length === 0) return;
    await addEncodedJobsAtomically(this.queue, JOB_NAME, jobs);
    if (this.waitReplicas === 0) return;
    let acked: number;
    try {
      // On the connection that wrote the jobs: WAIT counts replicas that have this client's writes.
      // In a Redis Cluster that is the connection to the master owning the queue's slot (WAIT has no
      // key to route by, and another master knows nothing of these writes).
      const queueKey = this.queue.toKey('wait');
      const client = masterOfKey((await this.queue.client) as unknown as RedisClient, queueKey);
      if (!client) throw new Error(`no master known for ${queueKey}`);
      acked = Number(await client.call('WAIT', String(this.waitReplicas), String(this.waitTimeoutMs)));
    } catch (err) {
      throw new Error(`WAIT for replicas: ${(err as Error).message}`);
    }
    // The jobs stay in the primary: a retried batch is indexed twice at most, and record ids are
    // deterministic, so the second indexing overwrites the first.
    if (acked < this.waitReplicas) throw new ReplicasBehindError(acked, this.waitReplicas, this.waitTimeoutMs);
  }

  waiting(): Promise<number> {
    return this.queue.getWaitingCount();
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async persistence(): Promise<SinkPersistence> {
    return withWarning(this.options.url ?? "(this webhook's connection)", await redisPersistence(this.redis));
  }
}

function withWarning(url: string, settings: RedisPersistence): SinkPersistence {
  const warning = persistenceWarning(url, settings);
  return warning ? { settings, warning } : { settings };
}

/** Producer connection: fail a request fast when Redis is away (the apiserver gets 503 and retries) instead of queueing it in memory. */
function producerRedis(target: RedisTarget | string): RedisClient {
  return createRedis(target, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 });
}

const READY_TIMEOUT_MS = 10_000;

/** Waits for the producer connection (it queues nothing offline, by design) before first use. */
function ready(redis: RedisClient, url: string): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Redis at ${url} did not answer within ${READY_TIMEOUT_MS / 1000}s`)),
      READY_TIMEOUT_MS,
    );
    redis.once('ready', () => {
      clearTimeout(timer);
      resolveReady();
    });
  });
}

/** The webhook's Redis side, connected: the sink, and what redaction reads from Redis. */
export interface RedisIntake {
  sink: RedisBatchSink;
  queue: Queue<BatchJob>;
  /** The redaction salt (CRTRAIL_REDACTION_SALT, else the deployment's own, kept in Redis). */
  salt: string;
  /** The resource → kind table shared with the workers: what is secret is decided from the objectRef. */
  kinds: RedisKindTable;
  /** What that Redis keeps on disk, read once at start (unknown when it could not be read). */
  persistence: SinkPersistence;
  /** Closes the queue, then the connection. */
  close(): Promise<void>;
}

export interface RedisIntakeOptions {
  /** How messages name this Redis (a URL without its password, or the Sentinel set). */
  url: string;
  /** Which Redis (redisTargetFromEnv); without it, the single node at `url`. */
  target?: RedisTarget;
  prefix: string;
  /** CRTRAIL_REDACTION_SALT, when set. */
  salt?: string | undefined;
  waitReplicas?: number;
}

/**
 * Connects the producer side: waits for Redis (the webhook cannot ack anything without it, and the
 * salt may live there), reads the salt and what that Redis persists.
 */
export async function openRedisIntake(options: RedisIntakeOptions): Promise<RedisIntake> {
  const redis = producerRedis(options.target ?? options.url);
  redis.on('error', () => {
    /* reported through /readyz and 503s; ioredis reconnects by itself */
  });
  const queue = createBatchQueue(options.prefix, redis);
  await ready(redis, options.url);
  const salt = await redactionSalt(redis, options.prefix, options.salt);
  const kinds = new RedisKindTable(redis, options.prefix);
  const settings = await redisPersistence(redis).catch((err: Error): RedisPersistence => ({
    aof: false,
    rdb: false,
    persistent: false,
    unknown: true,
    how: err.message,
  }));
  queue.on('error', () => {});
  const sink = new RedisBatchSink(queue, redis, { waitReplicas: options.waitReplicas ?? 0, url: options.url });
  return {
    sink,
    queue,
    salt,
    kinds,
    persistence: withWarning(options.url, settings),
    async close() {
      await queue.close();
      redis.disconnect();
    },
  };
}
