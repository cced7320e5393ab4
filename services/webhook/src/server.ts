import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { loadConfig, type Env } from '@crtrail/config';
import { describeRedis, redisTargetFromEnv } from '@crtrail/queue';
import { learnKinds, redactEvent } from '@crtrail/enrich';
import { buildWebhook } from './app.js';
import { loadWebhookAuth, type WebhookAuth } from './auth.js';
import { openRedisIntake, type RedisIntake } from './redis-sink.js';

export interface RunningWebhook {
  app: FastifyInstance;
  url: string;
  /** The workers' queue the batches go to (tests read what was acked from it). */
  queue: RedisIntake['queue'];
  close(): Promise<void>;
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
  const config = loadConfig(env.CRTRAIL_CONFIG);
  // Redaction before the queue: secret values never reach Redis either. The salt comes from Redis
  // when not configured, so the webhook needs Redis at start (it cannot ack anything without it anyway).
  const target = redisTargetFromEnv(env);
  const redis = await openRedisIntake({
    url: describeRedis(target),
    target,
    prefix: env.CRTRAIL_INDEX_PREFIX,
    salt: env.CRTRAIL_REDACTION_SALT,
    waitReplicas: env.CRTRAIL_REDIS_WAIT_REPLICAS,
  });
  const { salt, kinds } = redis;
  const app = buildWebhook({
    sink: redis.sink,
    defaultCluster: env.CRTRAIL_CLUSTER,
    bodyLimit: env.CRTRAIL_BODY_LIMIT,
    maxWaiting: env.CRTRAIL_QUEUE_MAX_WAITING,
    maxConnections: env.CRTRAIL_MAX_CONNECTIONS,
    auth,
    redact: (e) => redactEvent(e, config, salt, kinds),
    prepareRedaction: (events) => learnKinds(events, kinds),
    ...(config.filter.builtInGroups ? { filter: { builtInGroups: config.filter.builtInGroups } } : {}),
    logger: typeof logger === 'boolean' ? (logger ? { level: env.CRTRAIL_LOG_LEVEL } : false) : logger,
  });
  // Said loudly at start: an ack is only as durable as the Redis behind it.
  const { settings, warning } = redis.persistence;
  if (warning) app.log.warn({ code: 'CRTRAIL_WARN_REDIS_NOT_PERSISTENT', redis: settings }, warning);
  await app.listen({ host: env.CRTRAIL_HOST, port: env.CRTRAIL_PORT });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : env.CRTRAIL_PORT;
  const host = env.CRTRAIL_HOST.includes(':') ? `[${env.CRTRAIL_HOST}]` : env.CRTRAIL_HOST;
  return {
    app,
    url: `${auth.tls ? 'https' : 'http'}://${host}:${port}`,
    queue: redis.queue,
    async close() {
      // Stop accepting, let in-flight requests finish (each is enqueued+acked or answered 503), then close Redis.
      await app.close();
      await redis.close();
    },
  };
}
