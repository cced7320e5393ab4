import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Env } from '@crtrail/config';
import { createBatchQueue, createRedis, describeRedis, persistenceWarning, redactionSalt, redisPersistence, redisTargetFromEnv, RedisKindTable, type BatchJob, type RedisTarget } from '@crtrail/queue';
import { loadConfig } from '@crtrail/config';
import { learnKinds, redactEvent } from '@crtrail/enrich';
import { buildWebhook } from './app.js';
import { loadWebhookAuth, type WebhookAuth } from './auth.js';

export interface RunningWebhook {
  app: FastifyInstance;
  url: string;
  queue: Queue<BatchJob>;
  close(): Promise<void>;
}

/** Producer connection: fail a request fast when Redis is away (the apiserver gets 503 and retries) instead of queueing it in memory. */
export function producerRedis(target: RedisTarget | string): Redis {
  return createRedis(target, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 });
}

const READY_TIMEOUT_MS = 10_000;

/** Waits for the producer connection (it queues nothing offline, by design) before first use. */
function ready(redis: Redis, url: string): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`Redis at ${url} did not answer within ${READY_TIMEOUT_MS / 1000}s`)), READY_TIMEOUT_MS);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolveReady();
    });
  });
}

/**
 * Starts the webhook on CRTRAIL_HOST:CRTRAIL_PORT (port 0 = any free port), over HTTPS when
 * CRTRAIL_TLS_CERT/KEY are set. `auth` is what {@link loadWebhookAuth} reads from `env` (read here when
 * not given; `crtrail up` reads it before starting anything so a bad file fails first).
 */
export async function startWebhook(
  env: Env,
  logger: FastifyBaseLogger | boolean = true,
  auth: WebhookAuth = loadWebhookAuth(env),
): Promise<RunningWebhook> {
  const redisTarget = redisTargetFromEnv(env);
  const redis = producerRedis(redisTarget);
  redis.on('error', () => {
    /* reported through /readyz and 503s; ioredis reconnects by itself */
  });
  const queue = createBatchQueue(env.CRTRAIL_INDEX_PREFIX, redis);
  const config = loadConfig(env.CRTRAIL_CONFIG);
  // Redaction before the queue: secret values never reach Redis either. The salt comes from Redis
  // when not configured, so the webhook needs Redis at start (it cannot ack anything without it anyway).
  await ready(redis, describeRedis(redisTarget));
  const salt = await redactionSalt(redis, env.CRTRAIL_INDEX_PREFIX, env.CRTRAIL_REDACTION_SALT);
  // What is secret is decided from the objectRef: the resource → kind table shared with the workers.
  const kinds = new RedisKindTable(redis, env.CRTRAIL_INDEX_PREFIX);
  const persistence = await redisPersistence(redis).catch((err: Error) => ({ aof: false, rdb: false, persistent: false, unknown: true, how: err.message }));
  queue.on('error', () => {});
  const app = buildWebhook({
    queue,
    redis,
    defaultCluster: env.CRTRAIL_CLUSTER,
    bodyLimit: env.CRTRAIL_BODY_LIMIT,
    maxWaiting: env.CRTRAIL_QUEUE_MAX_WAITING,
    maxConnections: env.CRTRAIL_MAX_CONNECTIONS,
    waitReplicas: env.CRTRAIL_REDIS_WAIT_REPLICAS,
    redisUrl: describeRedis(redisTarget),
    auth,
    redact: (e) => redactEvent(e, config, salt, kinds),
    prepareRedaction: (events) => learnKinds(events, kinds),
    ...(config.filter.builtInGroups ? { filter: { builtInGroups: config.filter.builtInGroups } } : {}),
    logger: typeof logger === 'boolean' ? (logger ? { level: env.CRTRAIL_LOG_LEVEL } : false) : logger,
  });
  // Said loudly at start: an ack is only as durable as the Redis behind it.
  const warning = persistenceWarning(describeRedis(redisTarget), persistence);
  if (warning) app.log.warn({ code: 'CRTRAIL_WARN_REDIS_NOT_PERSISTENT', redis: persistence }, warning);
  await app.listen({ host: env.CRTRAIL_HOST, port: env.CRTRAIL_PORT });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : env.CRTRAIL_PORT;
  const host = env.CRTRAIL_HOST.includes(':') ? `[${env.CRTRAIL_HOST}]` : env.CRTRAIL_HOST;
  return {
    app,
    url: `${auth.tls ? 'https' : 'http'}://${host}:${port}`,
    queue,
    async close() {
      // Stop accepting, let in-flight requests finish (each is enqueued+acked or answered 503), then close Redis.
      await app.close();
      await queue.close();
      redis.disconnect();
    },
  };
}
