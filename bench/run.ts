/**
 * `npm run bench`: measures the webhook and the whole pipeline against their physical ceilings in
 * one run, on this machine, with Redis and Elasticsearch brought up as `npm start` does.
 * Capacities (events/s, changes/s) are measured at saturation; ack latency and lag at the rate real
 * apiservers offer (see APISERVER_QPS), since at saturation they only describe the load generator.
 * Writes bench/results/latest.json + latest.md (`--scale`: latest-scale.*, 1–3 worker processes).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { ensureElasticsearch, ensureRedis, repoRoot } from '@crtrail/stack';
import { createEsClient, deletePrefix, indexNames, recordMapping } from '@crtrail/store';
import { createBatchQueue } from '@crtrail/queue';
import { loadEnv, workerExecArgv } from '@crtrail/config';
import { deleteRedisPrefix } from '@crtrail/testkit';
import { prng } from '../test/fixtures/lifecycle.js';
import { generateWorkload } from './workload.js';

const args = new Set(process.argv.slice(2));
const SCALE = args.has('--scale');
const BATCHES = Number(process.env.BENCH_BATCHES || 300);
const SENDERS = Number(process.env.BENCH_SENDERS || 5);
/**
 * kube-apiserver's audit webhook batch backend, defaults: batches of at most 400 events
 * (--audit-webhook-batch-max-size=400) sent through a token bucket of
 * --audit-webhook-batch-throttle-qps=10 batches/s and --audit-webhook-batch-throttle-burst=15.
 * SENDERS apiservers at full throttle thus offer SENDERS × 10 × 400 events/s (5 → 20,000).
 */
const APISERVER_QPS = 10;
const APISERVER_BURST = 15;
const REDIS_URL = process.env.CRTRAIL_REDIS_URL || 'redis://127.0.0.1:6379';
const ES_URL = process.env.CRTRAIL_ES_URL || 'http://127.0.0.1:9200';
const REFRESH_POLL_MS = 100;
const root = repoRoot();
const say = (m: string) => process.stderr.write(`bench: ${m}\n`);

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => r(port));
    });
  });
}

/** Peak resident set (VmHWM) of a process, in MB. */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? round(Number(m[1]) / 1024) : 0;
}

/** CPU time (user + system) a process has used so far, in ms; 0 if it is gone. */
function cpuMs(pid: number): number {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

/** The pid of the process whose command line contains `needle` (Elasticsearch's JVM, redis-server). */
function pidOf(needle: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) return Number(entry);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

function crtrail(argsList: string[], env: Record<string, string>): ChildProcess {
  // Worker processes get the heap limit `crtrail up` gives the workers it starts.
  const nodeArgs = argsList.includes('--worker-only') ? workerExecArgv(loadEnv()) : [];
  return spawn(process.execPath, [...nodeArgs, join(root, 'services/cli/bin/crtrail.js'), ...argsList], {
    env: { ...process.env, CRTRAIL_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`${url} did not come up`);
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await done;
}

const workload = generateWorkload(BATCHES);
say(
  `workload: ${workload.bodies.length} batches, ${workload.events} events, ${workload.crWrites} custom-resource writes`,
);

// What the bench starts itself it stops at the end (as `npm test` does), or its process never exits.
const startedRedis = (await ensureRedis(REDIS_URL, say)).started;
const startedEs = (await ensureElasticsearch(ES_URL, {}, say)).started;
const es = createEsClient({ url: ES_URL });
const redis = new Redis(REDIS_URL);

/** Runs `fn` over every workload body from SENDERS concurrent loops (like that many apiservers). */
async function eachBody(fn: (b: (typeof workload.bodies)[number], index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      for (let i = next++; i < workload.bodies.length; i = next++) await fn(workload.bodies[i]!, i);
    }),
  );
}

/** POSTs one EventList as the apiserver does; resolves at the ack. */
/** Bodies encoded once, as an apiserver serializes a batch once: the load generator's CPU is the webhook's competitor. */
const encoded = new Map(workload.bodies.map((b) => [b, Buffer.from(b.body)]));

async function post(url: string, b: (typeof workload.bodies)[number]): Promise<void> {
  const res = await fetch(`${url}/audit/${b.cluster}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: encoded.get(b)!,
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
}

/** What a sender measured: per-request ack latencies and ack times. */
interface Sent {
  latencies: number[];
  acks: Array<{ at: number; cr: number; index: number }>;
  acked: number;
  seconds: number;
  t0: number;
}

/**
 * Sends every body from SENDERS closed loops, each next request as soon as the previous is acked:
 * saturation, for capacity. Its latencies are ≈ SENDERS × service time (Little's law), not the
 * service's answer to a given load.
 */
async function send(url: string): Promise<Sent> {
  const latencies: number[] = [];
  const acks: Sent['acks'] = [];
  let acked = 0;
  const t0 = performance.now();
  await eachBody(async (b, i) => {
    const start = performance.now();
    await post(url, b);
    const end = performance.now();
    latencies.push(end - start);
    acks.push({ at: end, cr: b.crWrites, index: i });
    acked += b.events;
  });
  const seconds = (performance.now() - t0) / 1000;
  return { latencies, acks, acked, seconds, t0 };
}

/**
 * One apiserver's batch throttle: a token every `period` ms, at most `burst` kept (more are dropped,
 * and counted). A token carries the time it arrived, which is when the batch that takes it was due.
 */
class TokenBucket {
  private readonly held: number[] = [];
  private next: number;
  dropped = 0;
  constructor(
    private readonly period: number,
    private readonly burst: number,
    firstAt: number,
  ) {
    this.next = firstAt;
  }

  /** Waits (on a timer) for a token; returns when it arrived: the batch's scheduled start. */
  async take(): Promise<number> {
    for (;;) {
      const now = performance.now();
      for (; this.next <= now; this.next += this.period) {
        if (this.held.length < this.burst) this.held.push(this.next);
        else this.dropped++;
      }
      const due = this.held.shift();
      if (due !== undefined) return due;
      await sleep(this.next - now);
    }
  }
}

/**
 * Sends every body (in order, shared like `eachBody`) at the rate SENDERS apiservers at full throttle
 * offer, open loop: each sender is one apiserver's batch backend with its own bucket and one request
 * in flight. Buckets start drained (at full throttle each token is spent as it arrives; a full one
 * would add a start-up burst the steady state does not have) at random phases (apiservers are not
 * synchronised; seeded, so runs compare). Latency runs from the token's arrival, not from the send:
 * a slow ack that holds its sender back is charged to every request it delays (no coordinated
 * omission), and the burst lets the sender catch up as the apiserver's limiter would.
 */
async function sendAtApiserverRate(url: string): Promise<Sent & { tokensDropped: number }> {
  const latencies: number[] = [];
  const acks: Sent['acks'] = [];
  let acked = 0;
  let next = 0;
  const period = 1000 / APISERVER_QPS;
  const phase = prng(20261124);
  const t0 = performance.now();
  const buckets = Array.from(
    { length: SENDERS },
    () => new TokenBucket(period, APISERVER_BURST, t0 + phase() * period),
  );
  await Promise.all(
    buckets.map(async (bucket) => {
      while (next < workload.bodies.length) {
        const due = await bucket.take();
        const i = next++;
        const b = workload.bodies[i];
        if (!b) return;
        await post(url, b);
        const end = performance.now();
        latencies.push(end - due);
        acks.push({ at: end, cr: b.crWrites, index: i });
        acked += b.events;
      }
    }),
  );
  // Up to the last ack: a sender's wait for a token it then had no body for is not sending time.
  const seconds = (Math.max(...acks.map((a) => a.at)) - t0) / 1000;
  return { latencies, acks, acked, seconds, t0, tokensDropped: buckets.reduce((n, b) => n + b.dropped, 0) };
}

async function ceilingParseRedis(prefix: string): Promise<number> {
  const key = `${prefix}:ceiling`;
  const t0 = performance.now();
  await eachBody(async (b) => {
    JSON.parse(b.body);
    await redis.rpush(key, b.body);
  });
  const s = (performance.now() - t0) / 1000;
  await redis.del(key);
  return workload.events / s;
}

/** Webhook + `workers` worker processes under `sender`'s load; capacity and lag (ack → searchable). */
async function runPipeline<S extends Sent>(prefix: string, workers: number, sender: (url: string) => Promise<S>) {
  const port = await freePort();
  const env = {
    CRTRAIL_INDEX_PREFIX: prefix,
    CRTRAIL_PORT: String(port),
    CRTRAIL_REDIS_URL: REDIS_URL,
    CRTRAIL_ES_URL: ES_URL,
  };
  const workerProcs: ChildProcess[] = [];
  for (let i = 0; i < workers; i++) {
    const wport = await freePort();
    const w = crtrail(['up', '--worker-only'], { ...env, CRTRAIL_WORKER_PORT: String(wport) });
    workerProcs.push(w);
    await waitHttp(`http://127.0.0.1:${wport}/healthz`);
  }
  const hook = crtrail(['up', '--webhook-only'], env);
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`);
  const alias = indexNames(prefix).alias;
  // Poll what is searchable while sending: lag = first poll that sees a batch's records − its ack.
  const polls: Array<{ at: number; count: number }> = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const c = await es.count({ index: alias }).catch(() => ({ count: 0 }));
      polls.push({ at: performance.now(), count: c.count });
      await sleep(REFRESH_POLL_MS);
    }
  })();
  // CPU each process spends on the run, from the first request until everything is searchable.
  const processes: Record<string, number[]> = {
    webhook: [hook.pid!],
    worker: workerProcs.map((w) => w.pid!),
    elasticsearch: [pidOf('org.elasticsearch.bootstrap.Elasticsearch')].filter((p): p is number => p !== undefined),
    redis: [pidOf('redis-server')].filter((p): p is number => p !== undefined),
    'load generator': [process.pid],
  };
  const cpuOf = () =>
    Object.fromEntries(Object.entries(processes).map(([k, pids]) => [k, pids.reduce((n, pid) => n + cpuMs(pid), 0)]));
  const cpu0 = cpuOf();
  const sent = await sender(url);
  const queueRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = createBatchQueue(prefix, queueRedis);
  for (;;) {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed');
    const n = (await es.count({ index: alias }).catch(() => ({ count: 0 }))).count;
    if (Object.values(c).every((x) => x === 0) && n >= workload.crWrites) break;
    await sleep(50);
  }
  polling = false;
  await poller;
  const end = polls.at(-1)!.at;
  const cpu1 = cpuOf();
  await es.indices.refresh({ index: alias });
  const indexed = (await es.count({ index: alias })).count;
  // Lag per batch, in ack order: when had the cumulative records up to it become searchable?
  const ordered = [...sent.acks].sort((a, b) => a.at - b.at);
  let cumulative = 0;
  const lags: number[] = [];
  for (const a of ordered) {
    cumulative += a.cr;
    const seen = polls.find((p) => p.count >= cumulative && p.at >= a.at);
    if (seen) lags.push(seen.at - a.at);
  }
  const rss = { webhook: peakRssMb(hook.pid!), worker: Math.max(...workerProcs.map((w) => peakRssMb(w.pid!))) };
  await stop(hook);
  await Promise.all(workerProcs.map(stop));
  await queue.close();
  // BullMQ leaves open a connection it was handed; left open, it kept the bench from exiting.
  queueRedis.disconnect();
  return {
    sent,
    changesPerS: indexed / ((end - sent.t0) / 1000),
    indexed,
    lagP50: pct(lags, 50),
    lagP99: pct(lags, 99),
    rss,
    /** CPU ms per indexed change, by process, and the wall time of the run. */
    cpuPerChange: Object.fromEntries(
      Object.keys(cpu0).map((k) => [k, round((cpu1[k]! - cpu0[k]!) / Math.max(1, indexed), 3)]),
    ),
    wallSeconds: (end - sent.t0) / 1000,
  };
}

async function ceilingEsBulk(prefix: string): Promise<number> {
  const alias = indexNames(prefix).alias;
  const docs: unknown[] = [];
  let after: unknown[] | undefined;
  for (;;) {
    const res = await es.search({
      index: alias,
      size: 2000,
      sort: [{ 'event.id': 'asc' }],
      ...(after ? { search_after: after as never } : {}),
    });
    if (res.hits.hits.length === 0) break;
    for (const h of res.hits.hits) docs.push(h._source);
    after = res.hits.hits.at(-1)!.sort as unknown[];
  }
  const target = `${prefix}-ceiling`;
  await es.indices.create({
    index: target,
    mappings: recordMapping,
    settings: { number_of_shards: 1, number_of_replicas: 0 },
  });
  const t0 = performance.now();
  const chunks: unknown[][] = [];
  let cur: unknown[] = [];
  let bytes = 0;
  for (const d of docs) {
    const s = JSON.stringify(d).length;
    if (bytes + s > 8 * 1024 * 1024 && cur.length) {
      chunks.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(d);
    bytes += s;
  }
  if (cur.length) chunks.push(cur);
  let i = 0;
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      for (;;) {
        const c = chunks[i++];
        if (!c) return;
        await es.bulk({ operations: c.flatMap((d) => [{ create: { _index: target } }, d]) as never });
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  await es.indices.delete({ index: target });
  return docs.length / s;
}

async function cleanup(prefix: string) {
  await deletePrefix(es, prefix);
  await deleteRedisPrefix(redis, prefix);
}

const machine = {
  cores: cpus().length,
  memory_gb: round(totalmem() / 2 ** 30),
  node: process.version,
  cpu: cpus()[0]?.model ?? '',
};
let commit = '';
try {
  commit = execSync('git rev-parse HEAD', { cwd: root }).toString().trim();
} catch {
  /* not a checkout */
}
const outDir = join(root, 'bench', 'results');
mkdirSync(outDir, { recursive: true });

if (SCALE) {
  const rows = [];
  for (const workers of [1, 2, 3]) {
    const prefix = `bench-scale-${workers}-${Date.now().toString(36)}`;
    say(`pipeline with ${workers} worker process(es)…`);
    const r = await runPipeline(prefix, workers, send);
    rows.push({
      workers,
      changes_per_s: round(r.changesPerS),
      lag_p99_ms: round(r.lagP99),
      webhook_events_per_s: round(r.sent.acked / r.sent.seconds),
      rss_mb_worker: r.rss.worker,
      cpu_ms_per_change: r.cpuPerChange,
    });
    await cleanup(prefix);
  }
  const json = {
    scale: rows,
    machine,
    git: { commit },
    workload: { batches: BATCHES, events: workload.events, cr_writes: workload.crWrites },
  };
  writeFileSync(join(outDir, 'latest-scale.json'), JSON.stringify(json, null, 2) + '\n');
  const cpuCell = (c: Record<string, number>) => `${c.worker} / ${c.elasticsearch} / ${c.webhook}`;
  const md = [
    '# crtrail bench:scale',
    '',
    '| workers | changes/s | lag p99 ms | webhook events/s | worker RSS MB | CPU ms/change: workers / Elasticsearch / webhook |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.workers} | ${r.changes_per_s} | ${r.lag_p99_ms} | ${r.webhook_events_per_s} | ${r.rss_mb_worker} | ${cpuCell(r.cpu_ms_per_change)} |`,
    ),
    '',
  ];
  writeFileSync(join(outDir, 'latest-scale.md'), md.join('\n'));
  process.stdout.write(md.join('\n'));
} else {
  const prefix = `bench-${Date.now().toString(36)}`;
  /** The webhook alone (no worker: its batches just queue up in Redis) under `sender`'s load. */
  const webhookAlone = async <S extends Sent>(sender: (url: string) => Promise<S>, label: string) => {
    const hookPort = await freePort();
    const hookPrefix = `${prefix}-${label}`;
    const hook = crtrail(['up', '--webhook-only'], {
      CRTRAIL_INDEX_PREFIX: hookPrefix,
      CRTRAIL_PORT: String(hookPort),
      CRTRAIL_REDIS_URL: REDIS_URL,
    });
    await waitHttp(`http://127.0.0.1:${hookPort}/healthz`);
    const sent = await sender(`http://127.0.0.1:${hookPort}`);
    const rss = peakRssMb(hook.pid!);
    await stop(hook);
    await deleteRedisPrefix(redis, hookPrefix);
    return { sent, rss };
  };
  // The host is shared: the ceiling and the webhook are measured alternately, twice each, and the
  // better of each kept, so a slow moment of the host does not decide the ratio between them.
  let parseRedis = 0;
  const runs: Array<Awaited<ReturnType<typeof webhookAlone<Sent>>>> = [];
  for (let round = 1; round <= 2; round++) {
    say(`ceiling: JSON.parse + Redis write of the same bodies (${round}/2)…`);
    parseRedis = Math.max(parseRedis, await ceilingParseRedis(prefix));
    say(`webhook alone (no worker), saturated (${round}/2)…`);
    runs.push(await webhookAlone(send, `w${round}`));
  }
  const rateOf = (r: (typeof runs)[number]) => r.sent.acked / r.sent.seconds;
  const w = runs.reduce((a, b) => (rateOf(b) > rateOf(a) ? b : a)).sent;
  const webhookRss = Math.max(...runs.map((r) => r.rss));
  say(`webhook alone (no worker) at the apiserver rate, ${SENDERS} × ${APISERVER_QPS} batches/s…`);
  const { sent: wr, rss: webhookRatedRss } = await webhookAlone(sendAtApiserverRate, 'wr');
  say('whole pipeline (webhook + 1 worker), saturated…');
  const p = await runPipeline(prefix, 1, send);
  say('ceiling: raw bulk of the same documents…');
  const esBulk = await ceilingEsBulk(prefix);
  await cleanup(prefix);
  // Latency at the load the targets are about; the same bodies again, into a fresh prefix.
  say(`whole pipeline (webhook + 1 worker) at the apiserver rate, ${SENDERS} × ${APISERVER_QPS} batches/s…`);
  const ratedPrefix = `${prefix}-r`;
  const r = await runPipeline(ratedPrefix, 1, sendAtApiserverRate);
  await cleanup(ratedPrefix);
  const webhookEps = w.acked / w.seconds;
  const result = {
    webhook: {
      events_per_s: round(webhookEps),
      ack_p50_ms: round(pct(wr.latencies, 50), 2),
      ack_p99_ms: round(pct(wr.latencies, 99), 2),
      // The same load while the whole pipeline shares the machine's cores with the webhook.
      pipeline_ack_p50_ms: round(pct(r.sent.latencies, 50), 2),
      pipeline_ack_p99_ms: round(pct(r.sent.latencies, 99), 2),
      saturated_ack_p50_ms: round(pct(w.latencies, 50), 2),
      saturated_ack_p99_ms: round(pct(w.latencies, 99), 2),
    },
    pipeline: {
      changes_per_s: round(p.changesPerS),
      lag_p99_ms: round(r.lagP99),
      lag_p50_ms: round(r.lagP50),
      saturated_lag_p99_ms: round(p.lagP99),
      saturated_lag_p50_ms: round(p.lagP50),
      changes_indexed: p.indexed,
    },
    rated: {
      offered_events_per_s: round(SENDERS * APISERVER_QPS * (workload.events / workload.bodies.length)),
      acked_events_per_s: round(r.sent.acked / r.sent.seconds),
      webhook_alone_acked_events_per_s: round(wr.acked / wr.seconds),
      webhook_alone_tokens_dropped: wr.tokensDropped,
      batches_per_s_per_sender: APISERVER_QPS,
      burst: APISERVER_BURST,
      senders: SENDERS,
      seconds: round(r.sent.seconds, 2),
      tokens_dropped: r.sent.tokensDropped,
    },
    ceilings: { parse_redis_events_per_s: round(parseRedis), es_bulk_docs_per_s: round(esBulk) },
    ratios: {
      webhook_vs_parse_redis: round(webhookEps / parseRedis, 3),
      pipeline_vs_es_bulk: round(p.changesPerS / esBulk, 3),
    },
    rss_mb: {
      webhook: Math.max(webhookRss, webhookRatedRss, p.rss.webhook, r.rss.webhook),
      worker: Math.max(p.rss.worker, r.rss.worker),
    },
    cpu_ms_per_change: { saturated: p.cpuPerChange, rated: r.cpuPerChange },
    machine,
    git: { commit },
    workload: {
      batches: BATCHES,
      events: workload.events,
      cr_writes: workload.crWrites,
      senders: SENDERS,
      batch_events: 400,
    },
    at: new Date().toISOString(),
  };
  writeFileSync(join(outDir, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
  const rate = `at the apiserver rate (${SENDERS} × ${APISERVER_QPS} batches/s)`;
  const saturated = `at saturation (${SENDERS} closed-loop senders)`;
  // A null target: shown for reading the others, not a target.
  const targets: Array<[string, number, string, number | null]> = [
    ['webhook events/s acked', result.webhook.events_per_s, '≥', 20000],
    [`ack p99 ms ${rate}, webhook alone (as events/s)`, result.webhook.ack_p99_ms, '≤', 25],
    [`ack p99 ms ${rate}, whole pipeline on the same cores`, result.webhook.pipeline_ack_p99_ms, '', null],
    [`ack p99 ms ${saturated}`, result.webhook.saturated_ack_p99_ms, '', null],
    ['pipeline CR changes/s', result.pipeline.changes_per_s, '≥', 2000],
    [`lag p99 ms (ack → searchable) ${rate}`, result.pipeline.lag_p99_ms, '≤', 2000],
    [`lag p99 ms (ack → searchable) ${saturated}`, result.pipeline.saturated_lag_p99_ms, '', null],
    ['webhook / parse+Redis', result.ratios.webhook_vs_parse_redis, '≥', 0.5],
    ['pipeline / raw ES bulk', result.ratios.pipeline_vs_es_bulk, '≥', 0.5],
    ['webhook RSS MB', result.rss_mb.webhook, '≤', 300],
    ['worker RSS MB', result.rss_mb.worker, '≤', 300],
  ];
  const row = ([name, v, op, t]: (typeof targets)[number]) =>
    t === null
      ? `| ${name} | ${v} | — | — |`
      : `| ${name} | ${v} | ${op} ${t} | ${(op === '≥' ? v >= t : v <= t) ? 'yes' : '**no**'} |`;
  const md = [
    '# crtrail benchmark',
    '',
    `${result.at} · commit ${commit.slice(0, 12)} · ${machine.cores} cores, ${machine.memory_gb} GiB, Node ${machine.node} · Redis and Elasticsearch on the same machine`,
    '',
    `Workload: ${BATCHES} EventList batches of 400 events (${workload.events} events, ${workload.crWrites} custom-resource writes at RequestResponse level), ${SENDERS} senders on loopback (two load models, below the table).`,
    '',
    '| figure | measured | target | met |',
    '|---|---|---|---|',
    ...targets.map(row),
    '',
    `Two load models. Capacities (events/s, changes/s, the ratios) are measured at saturation: ${SENDERS} closed-loop senders, each sending its next batch as soon as the previous is acked, so ${SENDERS} requests are always in flight and ack latency and lag there are ≈ ${SENDERS} × service time and a growing backlog, a property of the load generator. Ack latency and lag are measured at the rate ${SENDERS} kube-apiservers at full throttle offer with the default batch flags (\`--audit-webhook-batch-max-size=400\`, \`--audit-webhook-batch-throttle-qps=10\`, \`--audit-webhook-batch-throttle-burst=15\`): open loop, each sender a token bucket of ${APISERVER_QPS} batches/s with burst ${APISERVER_BURST} and one request in flight, ${result.rated.offered_events_per_s} events/s offered (${result.rated.acked_events_per_s} acked over ${result.rated.seconds} s${result.rated.tokens_dropped ? `, ${result.rated.tokens_dropped} tokens dropped: senders fell more than a burst behind` : ''}). There each latency is timed from the batch's scheduled send time (its token), not from when it was sent, so a slow ack that delays later batches is counted in them too. Webhook figures come from the webhook alone (its batches queue up in Redis, as in a deployment where it has its own cores: ${result.rated.webhook_alone_acked_events_per_s} events/s acked at the apiserver rate); the pipeline figures, and the ack p99 marked so, from the webhook and a worker sharing this machine's ${machine.cores} cores with Elasticsearch, Redis and the load generator.`,
    '',
    `CPU time per indexed change, by process (from the first request until every record is searchable; ${machine.cores} cores give ${round((machine.cores * 1000) / Math.max(1, result.pipeline.changes_per_s), 2)} ms of CPU per change at the saturated rate):`,
    '',
    '| process | ms/change at saturation | ms/change at the apiserver rate |',
    '|---|---|---|',
    ...Object.keys(p.cpuPerChange).map((k) => `| ${k} | ${p.cpuPerChange[k]} | ${r.cpuPerChange[k] ?? '—'} |`),
    `| all | ${round(
      Object.values(p.cpuPerChange).reduce((a, b) => a + b, 0),
      3,
    )} | ${round(
      Object.values(r.cpuPerChange).reduce((a, b) => a + b, 0),
      3,
    )} |`,
    '',
    `Ceilings in the same run: JSON.parse + Redis RPUSH of the same bodies ${result.ceilings.parse_redis_events_per_s} events/s; raw \`_bulk\` of the same final documents ${result.ceilings.es_bulk_docs_per_s} docs/s.`,
    '',
  ];
  const analysis = join(root, 'bench', 'ANALYSIS.md');
  try {
    md.push(readFileSync(analysis, 'utf8'));
  } catch {
    /* no analysis yet */
  }
  writeFileSync(join(outDir, 'latest.md'), md.join('\n'));
  process.stdout.write(md.join('\n') + '\n');
}
await es.close();
redis.disconnect();
for (const m of [startedEs, startedRedis]) if (m) await m.stop();
