import { createServer, type Server } from 'node:http';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Client } from '@elastic/elasticsearch';
import { pino, type Logger } from 'pino';
import type { Env } from '@crtrail/config';
import {
  attemptsUsed,
  createRedis,
  describeRedis,
  isRedisCluster,
  JOB_RETRY,
  jobBackoff,
  JOB_BOUNDS,
  persistenceWarning,
  queueName,
  redisPersistence,
  redisTargetFromEnv,
  STALL_RETRY,
  type BatchJob,
  type RedisClient,
} from '@crtrail/queue';
import {
  forgetFailure,
  HistoryCache,
  historyRetention,
  keysFor,
  noteFailure,
  RedisKindTable,
  watchRedactionSalt,
} from '@crtrail/state';
import {
  createEsClient,
  esConnectionFromEnv,
  hasIlm,
  indexNames,
  installTemplates,
  RecordLocator,
  rolloverIfNeeded,
} from '@crtrail/store';
import { createWorkerMetrics, type WorkerMetrics } from './metrics.js';
import { CHUNK_EVENTS, processJobs, type BatchResult } from './process-batch.js';
import { JobJoiner } from './joiner.js';
import { UnitPipeline } from './unit-pipeline.js';
import { createEnricher, type Enricher } from './enricher.js';
import { checkRedactionSalt } from './salt-check.js';
import { loadConfig, WORKER_SIZING, type CrtrailConfig } from '@crtrail/config';
import { createAlerting } from './alerts.js';

/**
 * How long a unit that is not full waits for the running one before it starts beside it: about one
 * unit's processing time under load, so that the next unit fills meanwhile; a unit slowed by
 * Elasticsearch's retries holds the others back no longer than this.
 */
const UNIT_FILL_WAIT_MS = 250;

/** How often a worker checks the rollover conditions when ILM is absent. */
const ROLLOVER_CHECK_MS = 60_000;

export interface WorkerOptions {
  env: Env;
  log?: Logger;
  /** Serve /metrics and /healthz (off in tests that run several workers). */
  serveMetrics?: boolean;
  refresh?: boolean | 'wait_for';
  /** Validated CRTRAIL_CONFIG; loaded from the environment when absent. */
  config?: CrtrailConfig;
  /**
   * Who did it / critical / drift for each record; `createEnricher(config)` when absent. A
   * replaceable dependency (e.g. to wrap it with extra rules); an enrichment that throws for an
   * event dead-letters that event alone (the fault-injection tests use this to make a poison event).
   */
  enricher?: Enricher;
}

export interface RunningWorker {
  worker: Worker<BatchJob, BatchResult>;
  es: Client;
  redis: RedisClient;
  metrics: WorkerMetrics;
  metricsUrl?: string;
  close(): Promise<void>;
}

/** How long /readyz waits for Redis or Elasticsearch before calling it unreachable. */
const READY_TIMEOUT_MS = 2_000;

/** Redis and Elasticsearch both answer: what a worker needs to take a batch and write its records. */
export async function workerReadiness(
  redis: RedisClient,
  es: Client,
): Promise<{ ready: boolean; redis: string; elasticsearch: string }> {
  const within = <T>(p: Promise<T>): Promise<T> =>
    Promise.race([
      p,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS).unref(),
      ),
    ]);
  const [r, e] = await Promise.allSettled([
    within(redis.ping()),
    within(es.cluster.health({ timeout: `${READY_TIMEOUT_MS}ms` }, { requestTimeout: READY_TIMEOUT_MS })),
  ]);
  const redisState =
    r.status === 'fulfilled' ? 'ok' : `unreachable (CRTRAIL_REDIS_URL): ${(r.reason as Error).message}`;
  const esState =
    e.status === 'fulfilled'
      ? e.value.status === 'red'
        ? 'red'
        : 'ok'
      : `unreachable (CRTRAIL_ES_URL): ${(e.reason as Error).message}`;
  return { ready: redisState === 'ok' && esState === 'ok', redis: redisState, elasticsearch: esState };
}

function serve(
  metrics: WorkerMetrics,
  host: string,
  port: number,
  readiness: () => ReturnType<typeof workerReadiness>,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/readyz') {
      void readiness().then((r) => {
        res.writeHead(r.ready ? 200 : 503, {
          'content-type': 'application/json',
          ...(r.ready ? {} : { 'retry-after': '5' }),
        });
        res.end(
          JSON.stringify({ status: r.ready ? 'ready' : 'unavailable', redis: r.redis, elasticsearch: r.elasticsearch }),
        );
      });
    } else if (req.url === '/metrics') {
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

const formatDelay = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`);

async function readQueueGauges(
  queue: Queue<BatchJob>,
  redis: RedisClient,
  prefix: string,
  metrics: WorkerMetrics,
): Promise<void> {
  const [counts, oldest, dlq] = await Promise.all([
    queue.getJobCounts('failed', 'active'),
    queue.getJobs(['waiting'], 0, 0, true),
    redis.llen(keysFor(redis, prefix).dlq),
  ]);
  metrics.failedBatches.set(counts.failed ?? 0);
  metrics.activeJobs.set(counts.active ?? 0);
  metrics.oldestWaiting.set(oldest[0] ? Math.max(0, (Date.now() - oldest[0].timestamp) / 1000) : 0);
  metrics.dlqSize.set(dlq);
}

/** Starts one BullMQ worker consuming `<prefix>-batches` and writing records to `<prefix>-changes`. */
export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const { env } = options;
  const log = options.log ?? pino({ level: env.CRTRAIL_LOG_LEVEL, base: { service: 'worker' } });
  const config = options.config ?? loadConfig(env.CRTRAIL_CONFIG);
  const redisTarget = redisTargetFromEnv(env);
  const es = createEsClient(esConnectionFromEnv(env));
  await installTemplates(es, env.CRTRAIL_INDEX_PREFIX);
  const redis = createRedis(redisTarget);
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  // An ack is only as durable as this Redis: say it loudly when it keeps nothing on disk.
  const unsafe = await redisPersistence(redis).then(
    (p) => persistenceWarning(describeRedis(redisTarget), p),
    () => undefined,
  );
  if (unsafe) log.warn({ code: 'CRTRAIL_WARN_REDIS_NOT_PERSISTENT' }, unsafe);
  const prefix = env.CRTRAIL_INDEX_PREFIX;
  // Before any job: a salt that differs from the one existing records were hashed with refuses the start.
  const salt = await checkRedactionSalt(redis, es, prefix, env.CRTRAIL_REDACTION_SALT).catch(async (err: Error) => {
    await redis.quit().catch(() => redis.disconnect());
    await es.close();
    throw err;
  });
  const metrics = createWorkerMetrics();
  // One resource → kind table for redaction and for the critical rules (a Status answer names no kind).
  const kinds = new RedisKindTable(redis, env.CRTRAIL_INDEX_PREFIX);
  const enrich = options.enricher ?? createEnricher(config, (group, resource) => kinds.kindsOf(group, resource));
  const alias = indexNames(prefix).alias;
  // Alerts only when a sink is configured: their queue and consumer share this Redis connection.
  const alerts =
    config.alerts.sinks.length > 0
      ? await createAlerting({
          redis,
          prefix,
          config,
          kibanaUrl: env.CRTRAIL_KIBANA_URL,
          registry: metrics.registry,
          log,
        })
      : undefined;
  const locator = new RecordLocator(es, alias);
  const deps = {
    es,
    locator,
    redis,
    prefix: env.CRTRAIL_INDEX_PREFIX,
    // One per worker: its jobs share the histories they read and save.
    historyCache: new HistoryCache(),
    historyRetention: historyRetention(env.CRTRAIL_STATE_TTL_DAYS, env.CRTRAIL_STATE_DELETED_TTL_DAYS),
    enrich,
    config,
    salt,
    kinds,
    ...(config.filter.builtInGroups ? { filter: { builtInGroups: config.filter.builtInGroups } } : {}),
    metrics,
    log,
    refresh: options.refresh ?? false,
    ...(alerts ? { alerts } : {}),
    // One per worker process: its units take over the objects they share from one another.
    pipeline: new UnitPipeline(redis),
  };
  // The jobs this worker holds at once (CRTRAIL_WORKER_CONCURRENCY) are processed in joined units.
  const joiner = new JobJoiner<BatchResult>(
    (jobs, alone) => {
      metrics.unitJobs.observe(jobs.length);
      // A retried job's unit runs exclusive: whatever made it fail cannot fail the units around it.
      return processJobs(jobs, deps, { exclusive: alone });
    },
    {
      maxEvents: CHUNK_EVENTS,
      maxBytes: JOB_BOUNDS.maxBytes,
      inflight: WORKER_SIZING.unitsInflight,
      fillWaitMs: UNIT_FILL_WAIT_MS,
    },
  );
  const worker = new Worker<BatchJob, BatchResult>(
    queueName(env.CRTRAIL_INDEX_PREFIX, isRedisCluster(redis)),
    async (job: Job<BatchJob>) => {
      // Crashes and stalls (BullMQ does not count them as attempts) and failures share one budget:
      // a batch that keeps killing its worker gives up like one that keeps failing, ~1 h later.
      const used = attemptsUsed(job);
      if (used >= JOB_RETRY.attempts) {
        throw new UnrecoverableError(
          `gave up after ${used} attempts (${job.stalledCounter} of them crashed or stalled): ${job.failedReason ?? 'its worker never finished it'}`,
        );
      }
      const result = await joiner.submit(job.data, used > 0);
      log.info({ job: job.id, cluster: job.data.cluster, ...result }, 'batch done');
      return result;
    },
    {
      connection: redis,
      concurrency: env.CRTRAIL_WORKER_CONCURRENCY,
      settings: { backoffStrategy: (attemptsMade: number) => jobBackoff(attemptsMade) },
      // See STALL_RETRY: a crash/OOM/kill is retried, never a verdict. The lock is renewed every
      // half lockDuration, which needs an event loop free within that time (chunks + yields).
      lockDuration: env.CRTRAIL_WORKER_LOCK_MS,
      stalledInterval: env.CRTRAIL_WORKER_LOCK_MS,
      maxStalledCount: STALL_RETRY.maxStalledCount,
    },
  );
  worker.on('failed', (job, err) => {
    if (!job) return;
    metrics.failures.inc({ outcome: job.finishedOn ? 'gave_up' : 'retry' });
    void noteFailure(redis, prefix, String(job.id)).catch(() => {});
    const fields = { job: job.id, cluster: job.data.cluster, events: job.data.events?.length, err: err.message };
    if (job.finishedOn) {
      // In the failed set now, kept (removeOnFail: false): `crtrail dlq list` shows it, `dlq replay` re-drives it.
      log.error(
        { ...fields, attempts: attemptsUsed(job) },
        `batch gave up after ${attemptsUsed(job)} attempts: moved to the dead letters (crtrail dlq list)`,
      );
    } else {
      const delay = job.delay || jobBackoff(job.attemptsMade);
      log.warn(
        { ...fields, attempt: attemptsUsed(job), delayMs: delay },
        `batch failed; will retry in ${formatDelay(delay)} (attempt ${attemptsUsed(job)} of ${job.opts.attempts ?? JOB_RETRY.attempts})`,
      );
    }
  });
  worker.on('completed', (job) => {
    if (job.attemptsMade > 0 || job.stalledCounter > 0)
      void forgetFailure(redis, prefix, String(job.id)).catch(() => {});
  });
  worker.on('stalled', (jobId) => {
    metrics.stalls.inc();
    log.warn(
      { job: jobId },
      'batch stalled (its worker crashed, was killed or held the event loop past its lock): retried now',
    );
  });
  worker.on('error', (err) => log.warn({ err: err.message }, 'worker error'));
  // Queue-wide gauges (all workers agree on them), read every few seconds rather than per scrape.
  const queue = new Queue<BatchJob>(queueName(prefix, isRedisCluster(redis)), { connection: redis });
  queue.on('error', () => {});
  // Its set-up runs on the shared connection: finished before anyone can close() that connection.
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  const gaugeTimer = setInterval(() => {
    void readQueueGauges(queue, redis, prefix, metrics).catch(() => {});
  }, 5_000);
  gaugeTimer.unref();
  const saltTimer = env.CRTRAIL_REDACTION_SALT ? undefined : watchRedactionSalt(redis, prefix, salt, log);
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
  if (options.serveMetrics ?? true)
    server = await serve(metrics, env.CRTRAIL_HOST, env.CRTRAIL_WORKER_PORT, () => workerReadiness(redis, es));
  const address = server?.address();
  return {
    worker,
    es,
    redis,
    metrics,
    ...(address && typeof address === 'object'
      ? { metricsUrl: `http://${env.CRTRAIL_HOST}:${address.port}/metrics` }
      : {}),
    async close() {
      clearInterval(gaugeTimer);
      if (saltTimer) clearInterval(saltTimer);
      clearInterval(rolloverTimer);
      // Waits for the jobs in progress to finish (their records are written), takes no new ones.
      await worker.close();
      await queue.close();
      await alerts?.close();
      server?.close();
      await es.close();
      // QUIT lets replies still on their way arrive; a plain disconnect rejected them (unhandled).
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
