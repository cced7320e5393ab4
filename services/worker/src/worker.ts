import { createServer, type Server } from 'node:http';
import { Worker, type Job } from 'bullmq';
import type { Client } from '@elastic/elasticsearch';
import type { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import type { Env } from '@crtrail/config';
import { createRedis, dlqKey, jobBackoff, persistenceWarning, queueName, redisPersistence, type BatchJob } from '@crtrail/queue';
import { createEsClient, esConnectionFromEnv, hasIlm, indexNames, installTemplates, RecordLocator, rolloverIfNeeded } from '@crtrail/store';
import { createWorkerMetrics, type WorkerMetrics } from './metrics.js';
import { processBatch, type BatchResult } from './process-batch.js';
import { createEngineTracker } from './engine-tracker.js';
import { pushDeadLetters } from './dead-letters.js';
import { createEnricher } from './enricher.js';
import type { ChangeTracker } from './tracker.js';
import { DEFAULT_IGNORE_PATHS } from '@crtrail/diff';
import { loadConfig, type CrtrailConfig } from '@crtrail/config';
import { redactionSalt, RedisKindTable } from '@crtrail/queue';
import { createAlerting } from './alerts.js';

/** How often a worker checks the rollover conditions when ILM is absent. */
const ROLLOVER_CHECK_MS = 60_000;

export interface WorkerOptions {
  env: Env;
  log?: Logger;
  /** Serve /metrics and /healthz (off in tests that run several workers). */
  serveMetrics?: boolean;
  refresh?: boolean | 'wait_for';
  tracker?: ChangeTracker;
  /** Validated CRTRAIL_CONFIG; loaded from the environment when absent. */
  config?: CrtrailConfig;
}

export interface RunningWorker {
  worker: Worker<BatchJob, BatchResult>;
  es: Client;
  redis: Redis;
  metrics: WorkerMetrics;
  metricsUrl?: string;
  close(): Promise<void>;
}

function serve(metrics: WorkerMetrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      });
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolveServe, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolveServe(server));
  });
}

/** Starts one BullMQ worker consuming `<prefix>-batches` and writing records to `<prefix>-changes`. */
export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const { env } = options;
  const log = options.log ?? pino({ level: env.CRTRAIL_LOG_LEVEL, base: { service: 'worker' } });
  const config = options.config ?? loadConfig(env.CRTRAIL_CONFIG);
  const es = createEsClient(esConnectionFromEnv(env));
  await installTemplates(es, env.CRTRAIL_INDEX_PREFIX);
  const redis = createRedis(env.CRTRAIL_REDIS_URL);
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  // An ack is only as durable as this Redis: say it loudly when it keeps nothing on disk.
  const unsafe = await redisPersistence(redis).then((p) => persistenceWarning(env.CRTRAIL_REDIS_URL, p), () => undefined);
  if (unsafe) log.warn({ code: 'CRTRAIL_WARN_REDIS_NOT_PERSISTENT' }, unsafe);
  const metrics = createWorkerMetrics();
  const enrich = createEnricher(config);
  const tracker =
    options.tracker ??
    createEngineTracker({
      redis,
      prefix: env.CRTRAIL_INDEX_PREFIX,
      log,
      ignorePaths: [...DEFAULT_IGNORE_PATHS, ...config.filter.ignorePaths],
      annotate: (event, object) => ({ actor: enrich.actorOf(event, object) }),
      onPoison: async (cluster, rejected) => {
        await pushDeadLetters(redis, env.CRTRAIL_INDEX_PREFIX, cluster, rejected);
        metrics.dlq.inc(rejected.length);
      },
    });
  // Alerts only when a sink is configured: their queue and consumer share this Redis connection.
  const alerts = config.alerts.sinks.length > 0 ? createAlerting({ redis, prefix: env.CRTRAIL_INDEX_PREFIX, config, kibanaUrl: env.CRTRAIL_KIBANA_URL, registry: metrics.registry, log }) : undefined;
  const locator = new RecordLocator(es, indexNames(env.CRTRAIL_INDEX_PREFIX).alias);
  const deps = {
    es,
    locator,
    redis,
    prefix: env.CRTRAIL_INDEX_PREFIX,
    tracker,
    enrich,
    config,
    salt: await redactionSalt(redis, env.CRTRAIL_INDEX_PREFIX, env.CRTRAIL_REDACTION_SALT),
    kinds: new RedisKindTable(redis, env.CRTRAIL_INDEX_PREFIX),
    ...(config.filter.builtInGroups ? { filter: { builtInGroups: config.filter.builtInGroups } } : {}),
    metrics,
    log,
    refresh: options.refresh ?? false,
    ...(alerts ? { alerts } : {}),
  };
  const worker = new Worker<BatchJob, BatchResult>(
    queueName(env.CRTRAIL_INDEX_PREFIX),
    async (job: Job<BatchJob>) => {
      const result = await processBatch(job.data, deps);
      log.info({ job: job.id, cluster: job.data.cluster, ...result }, 'batch done');
      return result;
    },
    {
      connection: redis,
      concurrency: env.CRTRAIL_WORKER_CONCURRENCY,
      settings: { backoffStrategy: (attemptsMade: number) => jobBackoff(attemptsMade) },
    },
  );
  worker.on('failed', (job, err) => {
    log.warn({ job: job?.id, cluster: job?.data.cluster, attempt: job?.attemptsMade, err: err.message }, 'batch failed; will retry');
  });
  worker.on('error', (err) => log.warn({ err: err.message }, 'worker error'));
  const dlqTimer = setInterval(() => {
    redis.llen(dlqKey(env.CRTRAIL_INDEX_PREFIX)).then((n) => metrics.dlqSize.set(n), () => {});
  }, 5_000);
  dlqTimer.unref();
  // Without ILM (the bundled distribution) crtrail rolls the alias over itself.
  const ilm = await hasIlm(es);
  const rolloverTimer = setInterval(() => {
    if (ilm) return;
    rolloverIfNeeded(es, env.CRTRAIL_INDEX_PREFIX).then(
      (index) => {
        if (index) log.info({ index }, 'rolled over');
      },
      (err: Error) => log.warn({ err: err.message }, 'rollover check failed'),
    );
  }, ROLLOVER_CHECK_MS);
  rolloverTimer.unref();
  let server: Server | undefined;
  if (options.serveMetrics ?? true) server = await serve(metrics, env.CRTRAIL_HOST, env.CRTRAIL_WORKER_PORT);
  const address = server?.address();
  return {
    worker,
    es,
    redis,
    metrics,
    ...(address && typeof address === 'object' ? { metricsUrl: `http://${env.CRTRAIL_HOST}:${address.port}/metrics` } : {}),
    async close() {
      clearInterval(dlqTimer);
      clearInterval(rolloverTimer);
      // Waits for the jobs in progress to finish (their records are written), takes no new ones.
      await worker.close();
      await tracker.close?.();
      await alerts?.close();
      server?.close();
      await es.close();
      redis.disconnect();
    },
  };
}
