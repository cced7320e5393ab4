/**
 * What one worker core sustains (`bench:scale`): the queue is filled first (webhook only), then one
 * worker process drains it pinned to its own CPU, with Elasticsearch and Redis (and this bench
 * process, which only polls) pinned to the others, so the worker competes with nothing of the
 * pipeline for its core. Changes per worker CPU-second is what sizes a deployment's workers.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { Client } from '@elastic/elasticsearch';
import { createBatchQueue } from '@crtrail/queue';
import { indexNames } from '@crtrail/store';
import { hasTaskset, pin, restoreAffinity } from './affinity.js';
import { cpuMeter } from './pipeline.js';
import { crtrail, esPid, freePort, peakRssMb, redisPid, stop, waitHttp } from './processes.js';
import type { Sender } from './senders.js';
import { ES_URL, REDIS_URL, say } from './setup.js';
import { round } from './stats.js';

/** Why the figure is unpinned, or undefined when it can be pinned. */
function cannotPin(es: number | undefined, redis: number | undefined): string | undefined {
  if (!hasTaskset()) return 'taskset not found: unpinned, the worker shared its cores with Elasticsearch and Redis';
  if (cpus().length < 2) return 'one CPU: unpinned';
  if (es === undefined || redis === undefined)
    return 'Elasticsearch or Redis does not run on this machine (no pid to pin): only the worker is pinned';
  return undefined;
}

/**
 * `warmUp` (see `senders().warmUp`) is queued before the measured batches: the window starts once
 * the worker has taken all of it, so V8's compiling of the worker's hot code is not counted either.
 */
export async function runPerCore(
  es: Client,
  prefix: string,
  fill: Sender,
  expected: number,
  warmUp?: (url: string) => Promise<number>,
) {
  const env = { CRTRAIL_INDEX_PREFIX: prefix, CRTRAIL_REDIS_URL: REDIS_URL, CRTRAIL_ES_URL: ES_URL };
  const port = await freePort();
  const hook = crtrail(['up', '--webhook-only'], { ...env, CRTRAIL_PORT: String(port) });
  await waitHttp(`http://127.0.0.1:${port}/healthz`);
  const queueRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = createBatchQueue(prefix, queueRedis);
  say(`per worker core: filling the queue (${expected} changes${warmUp ? ', after a warm-up' : ''})…`);
  let warm = 0;
  let measuredJobs = 0;
  try {
    if (warmUp) warm = await warmUp(`http://127.0.0.1:${port}`);
    const warmJobs = await queue.getWaitingCount();
    await fill(`http://127.0.0.1:${port}`);
    measuredJobs = (await queue.getWaitingCount()) - warmJobs;
  } catch (err) {
    await queue.close();
    queueRedis.disconnect();
    throw err;
  } finally {
    await stop(hook);
  }

  const esP = esPid();
  const redisP = redisPid();
  const why = cannotPin(esP, redisP);
  const last = cpus().length - 1;
  const workerCpu = '0';
  const othersCpus = last === 1 ? '1' : `1-${last}`;
  const pinWorker = hasTaskset() && cpus().length >= 2;
  const alias = indexNames(prefix).alias;
  let worker: ChildProcess | undefined;
  try {
    if (!why) {
      pin(esP!, othersCpus);
      pin(redisP!, othersCpus);
      pin(process.pid, othersCpus);
    }
    const wport = await freePort();
    worker = crtrail(
      ['up', '--worker-only'],
      { ...env, CRTRAIL_WORKER_PORT: String(wport) },
      pinWorker ? ['taskset', '-c', workerCpu] : [],
    );
    say(`per worker core: draining with one worker${pinWorker ? ` on CPU ${workerCpu}` : ''}…`);
    await waitHttp(`http://127.0.0.1:${wport}/healthz`);
    // The window starts once the worker is up (its start-up is not per-change work) and has taken
    // the warm-up's jobs: what was already indexed by then is subtracted.
    while ((await queue.getWaitingCount()) > measuredJobs) await sleep(20);
    await es.indices.refresh({ index: alias }).catch(() => undefined);
    const before = (await es.count({ index: alias }).catch(() => ({ count: 0 }))).count;
    const cpu = cpuMeter({ worker: [worker.pid], elasticsearch: [esP], redis: [redisP] });
    const t0 = performance.now();
    for (;;) {
      const c = await queue.getJobCounts('waiting', 'active', 'delayed');
      if (Object.values(c).every((x) => x === 0)) break;
      await sleep(50);
    }
    // A job completes after its bulk is acknowledged: its records are indexed, searchable at the next refresh.
    const seconds = (performance.now() - t0) / 1000;
    const spent = cpu.spent();
    const rss = peakRssMb(worker.pid!);
    await stop(worker);
    await es.indices.refresh({ index: alias });
    const total = (await es.count({ index: alias })).count;
    if (total < warm + expected) throw new Error(`per worker core: ${total} of ${warm + expected} changes indexed`);
    const changes = total - before;
    const perChange = (ms: number) => round(ms / Math.max(1, changes), 3);
    return {
      pinned: !why,
      note: why ?? `worker on CPU ${workerCpu}; Elasticsearch, Redis and the bench on CPU ${othersCpus}`,
      worker_cpus: pinWorker ? workerCpu : 'all',
      es_redis_cpus: why ? 'all' : othersCpus,
      changes,
      seconds: round(seconds, 2),
      changes_per_s: round(changes / seconds),
      worker_cpu_ms_per_change: perChange(spent.worker!),
      changes_per_worker_cpu_s: round((1000 * changes) / Math.max(1, spent.worker!)),
      /** Share of its core the worker used: below ~0.9, it waited on Elasticsearch or Redis, not on its CPU. */
      worker_core_busy: round(spent.worker! / 1000 / seconds, 2),
      es_cpu_ms_per_change: perChange(spent.elasticsearch!),
      redis_cpu_ms_per_change: perChange(spent.redis!),
      rss_mb_worker: rss,
    };
  } finally {
    if (worker) await stop(worker);
    restoreAffinity();
    await queue.close();
    queueRedis.disconnect();
  }
}
