import { loadEnv, type Env } from '@crtrail/config';
import { cleanupPrefix, eventually, testEs, testRedis, testEsUrl, testRedisUrl } from '@crtrail/testkit';
import { startWebhook, type RunningWebhook } from '@crtrail/webhook';
import { startWorker, type RunningWorker, type WorkerOptions } from '@crtrail/worker';
import { indexNames } from '@crtrail/store';
import { pino, type Logger } from 'pino';
import type { StoredDoc } from './loose.js';

export interface Pipeline {
  prefix: string;
  env: Env;
  webhook: RunningWebhook;
  workers: RunningWorker[];
  url: string;
  es: ReturnType<typeof testEs>;
  redis: ReturnType<typeof testRedis>;
  /** Waits until the queue holds no waiting/active/delayed batch. */
  idle(timeoutMs?: number): Promise<void>;
  /** Documents under the write alias matching a query (after a refresh). */
  search(query?: Record<string, unknown>, size?: number): Promise<Array<StoredDoc>>;
  count(query?: Record<string, unknown>): Promise<number>;
  close(): Promise<void>;
}

/** The real webhook (port 0) and real worker(s) on real Redis + Elasticsearch, under a test's own prefix. */
export async function startPipeline(
  prefix: string,
  options: { workers?: number; worker?: Partial<WorkerOptions>; env?: Record<string, string>; log?: Logger } = {},
): Promise<Pipeline> {
  const env = loadEnv({
    CRTRAIL_REDIS_URL: testRedisUrl(),
    CRTRAIL_ES_URL: testEsUrl(),
    CRTRAIL_INDEX_PREFIX: prefix,
    CRTRAIL_PORT: '0',
    CRTRAIL_LOG_LEVEL: process.env.CRTRAIL_LOG_LEVEL || 'warn',
    ...options.env,
  });
  const log = options.log ?? pino({ level: env.CRTRAIL_LOG_LEVEL });
  const workers: RunningWorker[] = [];
  for (let i = 0; i < (options.workers ?? 1); i++) {
    workers.push(await startWorker({ env, log, serveMetrics: false, refresh: 'wait_for', ...options.worker }));
  }
  const webhook = await startWebhook(env, log);
  const es = testEs();
  const redis = testRedis();
  const alias = indexNames(prefix).alias;
  const pipeline: Pipeline = {
    prefix,
    env,
    webhook,
    workers,
    url: webhook.url,
    es,
    redis,
    async idle(timeoutMs = 60_000) {
      await eventually(
        async () => {
          const c = await webhook.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused');
          return Object.values(c).every((n) => n === 0) ? true : undefined;
        },
        timeoutMs,
        'the queue to drain',
      );
    },
    async search(query = { match_all: {} }, size = 1000) {
      await es.indices.refresh({ index: alias });
      const res = await es.search({
        index: alias,
        query,
        size,
        sort: [{ '@timestamp': 'asc' }, { 'event.id': 'asc' }],
      });
      return res.hits.hits as Array<StoredDoc>;
    },
    async count(query = { match_all: {} }) {
      await es.indices.refresh({ index: alias });
      return (await es.count({ index: alias, query })).count;
    },
    async close() {
      await webhook.close();
      await Promise.all(workers.map((w) => w.close()));
      await cleanupPrefix(prefix, es, redis);
      await es.close();
      redis.disconnect();
    },
  };
  return pipeline;
}
