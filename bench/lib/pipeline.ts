/** A running pipeline (webhook + worker processes, as an operator starts them) and the saturated / rated runs on it. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { Client } from '@elastic/elasticsearch';
import { indexNames } from '@crtrail/store';
import { createBatchQueue } from '@crtrail/queue';
import { cpuMs, crtrail, esPid, freePort, peakRssMb, redisPid, stop, waitHttp } from './processes.js';
import { ES_URL, REDIS_URL } from './setup.js';
import { pct, round } from './stats.js';
import type { Sender, Sent } from './senders.js';

const REFRESH_POLL_MS = 100;

export interface Pipeline {
  url: string;
  hook: ChildProcess;
  workers: ChildProcess[];
  /** Peak RSS so far of the webhook and of the largest worker, MB. */
  rss(): { webhook: number; worker: number };
  stop(): Promise<void>;
}

/** Starts `workers` worker processes, then the webhook, under `prefix`; resolves once all answer /healthz. */
export async function startPipeline(
  prefix: string,
  workers: number,
  env: Record<string, string> = {},
): Promise<Pipeline> {
  const port = await freePort();
  const common = {
    CRTRAIL_INDEX_PREFIX: prefix,
    CRTRAIL_PORT: String(port),
    CRTRAIL_REDIS_URL: REDIS_URL,
    CRTRAIL_ES_URL: ES_URL,
    ...env,
  };
  const workerProcs: ChildProcess[] = [];
  for (let i = 0; i < workers; i++) {
    const wport = await freePort();
    const w = crtrail(['up', '--worker-only'], { ...common, CRTRAIL_WORKER_PORT: String(wport) });
    workerProcs.push(w);
    await waitHttp(`http://127.0.0.1:${wport}/healthz`);
  }
  const hook = crtrail(['up', '--webhook-only'], common);
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`);
  return {
    url,
    hook,
    workers: workerProcs,
    rss: () => ({ webhook: peakRssMb(hook.pid!), worker: Math.max(...workerProcs.map((w) => peakRssMb(w.pid!))) }),
    async stop() {
      await stop(hook);
      await Promise.all(workerProcs.map(stop));
    },
  };
}

/** The processes whose CPU a run charges per change, by role. */
export function cpuMeter(roles: Record<string, Array<number | undefined>>) {
  const pids = Object.fromEntries(
    Object.entries(roles).map(([k, ps]) => [k, ps.filter((p): p is number => p !== undefined)]),
  );
  const read = () =>
    Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, ps.reduce((n, p) => n + cpuMs(p), 0)]));
  const at0 = read();
  return {
    /** CPU ms each role spent since the meter was made. */
    spent(): Record<string, number> {
      const now = read();
      return Object.fromEntries(Object.keys(at0).map((k) => [k, now[k]! - at0[k]!]));
    },
  };
}

/**
 * Webhook + `workers` worker processes under `sender`'s load; capacity and lag (ack → searchable).
 * `warmUp` (see `senders().warmUp`) runs first, on the same processes, and is waited for until its
 * records are searchable: what is measured is the pipeline in its steady state (code compiled by
 * V8 and Elasticsearch's JIT, connections open), as it runs in a deployment, not its first seconds.
 * Nothing of it counts: CPU, polls and records are taken from its end on.
 */
export async function runPipeline<S extends Sent>(
  es: Client,
  prefix: string,
  workers: number,
  sender: Sender<S>,
  expected: number,
  warmUp?: (url: string) => Promise<number>,
) {
  const pipeline = await startPipeline(prefix, workers);
  const queueRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = createBatchQueue(prefix, queueRedis);
  try {
    return await measurePipeline(es, prefix, pipeline, queue, sender, expected, warmUp);
  } finally {
    // Also when a run throws (a stall, a refused request): no webhook or worker is left running
    // to load the machine under the next case or keep the bench from exiting.
    await pipeline.stop();
    await queue.close();
    // BullMQ leaves open a connection it was handed; left open, it kept the bench from exiting.
    queueRedis.disconnect();
  }
}

/** A run without progress this long (no job taken, no record searchable) is reported, not waited on forever. */
const STALL_MS = Number(process.env.BENCH_STALL_MS || 120_000);

async function measurePipeline<S extends Sent>(
  es: Client,
  prefix: string,
  pipeline: Awaited<ReturnType<typeof startPipeline>>,
  queue: ReturnType<typeof createBatchQueue>,
  sender: Sender<S>,
  expected: number,
  warmUp: ((url: string) => Promise<number>) | undefined,
) {
  const alias = indexNames(prefix).alias;
  /** Until the queue is empty and `count` records are searchable; throws once nothing moved for {@link STALL_MS}. */
  const drained = async (count: number): Promise<void> => {
    let last = '';
    let since = performance.now();
    for (;;) {
      const c = await queue.getJobCounts('waiting', 'active', 'delayed');
      const n = (await es.count({ index: alias }).catch(() => ({ count: 0 }))).count;
      if (Object.values(c).every((x) => x === 0) && n >= count) return;
      const state = `${JSON.stringify(c)} ${n}`;
      if (state !== last) [last, since] = [state, performance.now()];
      else if (performance.now() - since > STALL_MS)
        throw new Error(
          `pipeline ${prefix} stalled for ${STALL_MS / 1000} s: ${n} of ${count} records searchable, jobs ${JSON.stringify(c)} (a worker down? its log is above)`,
        );
      await sleep(50);
    }
  };
  const warm = warmUp ? await warmUp(pipeline.url) : 0;
  if (warm > 0) await drained(warm);
  // Poll what is searchable while sending: lag = first poll that sees a batch's records − its ack.
  const polls: Array<{ at: number; count: number }> = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const c = await es.count({ index: alias }).catch(() => ({ count: warm }));
      polls.push({ at: performance.now(), count: c.count - warm });
      await sleep(REFRESH_POLL_MS);
    }
  })();
  // CPU each process spends on the run, from the first request until everything is searchable.
  const cpu = cpuMeter({
    webhook: [pipeline.hook.pid],
    worker: pipeline.workers.map((w) => w.pid),
    elasticsearch: [esPid()],
    redis: [redisPid()],
    'load generator': [process.pid],
  });
  let sent: S;
  try {
    sent = await sender(pipeline.url);
    await drained(warm + expected);
  } finally {
    // Also on a throw: a poller left running would keep the bench process alive.
    polling = false;
    await poller;
  }
  const end = polls.at(-1)!.at;
  const spent = cpu.spent();
  await es.indices.refresh({ index: alias });
  const indexed = (await es.count({ index: alias })).count - warm;
  // Lag per batch, in ack order: when had the cumulative records up to it become searchable?
  const ordered = [...sent.acks].sort((a, b) => a.at - b.at);
  let cumulative = 0;
  const lags: number[] = [];
  for (const a of ordered) {
    cumulative += a.cr;
    const seen = polls.find((p) => p.count >= cumulative && p.at >= a.at);
    if (seen) lags.push(seen.at - a.at);
  }
  const rss = pipeline.rss();
  return {
    sent,
    changesPerS: indexed / ((end - sent.t0) / 1000),
    indexed,
    lagP50: pct(lags, 50),
    lagP99: pct(lags, 99),
    rss,
    /** CPU ms per indexed change, by process, and the wall time of the run. */
    cpuPerChange: Object.fromEntries(Object.entries(spent).map(([k, ms]) => [k, round(ms / Math.max(1, indexed), 3)])),
    wallSeconds: (end - sent.t0) / 1000,
  };
}
