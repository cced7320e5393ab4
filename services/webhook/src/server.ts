import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Env } from '@crtrail/config';
import { createBatchQueue, createRedis, type BatchJob } from '@crtrail/queue';
import { buildWebhook } from './app.js';

export interface RunningWebhook {
  app: FastifyInstance;
  url: string;
  queue: Queue<BatchJob>;
  close(): Promise<void>;
}

/** Producer connection: fail a request fast when Redis is away (the apiserver gets 503 and retries) instead of queueing it in memory. */
export function producerRedis(url: string): Redis {
  return createRedis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 });
}

/** Starts the webhook on CRTRAIL_HOST:CRTRAIL_PORT (port 0 = any free port). */
export async function startWebhook(env: Env, logger: FastifyBaseLogger | boolean = true): Promise<RunningWebhook> {
  const redis = producerRedis(env.CRTRAIL_REDIS_URL);
  redis.on('error', () => {
    /* reported through /readyz and 503s; ioredis reconnects by itself */
  });
  const queue = createBatchQueue(env.CRTRAIL_INDEX_PREFIX, redis);
  queue.on('error', () => {});
  const app = buildWebhook({
    queue,
    redis,
    defaultCluster: env.CRTRAIL_CLUSTER,
    bodyLimit: env.CRTRAIL_BODY_LIMIT,
    logger: typeof logger === 'boolean' ? (logger ? { level: env.CRTRAIL_LOG_LEVEL } : false) : logger,
  });
  await app.listen({ host: env.CRTRAIL_HOST, port: env.CRTRAIL_PORT });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : env.CRTRAIL_PORT;
  const host = env.CRTRAIL_HOST.includes(':') ? `[${env.CRTRAIL_HOST}]` : env.CRTRAIL_HOST;
  return {
    app,
    url: `http://${host}:${port}`,
    queue,
    async close() {
      // Stop accepting, let in-flight requests finish (each is enqueued+acked or answered 503), then close Redis.
      await app.close();
      await queue.close();
      redis.disconnect();
    },
  };
}
