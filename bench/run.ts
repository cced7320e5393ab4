/**
 * `npm run bench`: measures the webhook and the whole pipeline against their physical ceilings in
 * one run, on this machine, with Redis and Elasticsearch brought up as `npm start` does.
 * Capacities (events/s, changes/s) are measured at saturation; ack latency and lag at the rate real
 * apiservers offer (see APISERVER_QPS), since at saturation they only describe the load generator;
 * then a few ~20 MB batches at once (peak RSS, ack and searchable times of each).
 * Writes bench/results/latest.json + latest.md (BENCH_OUT_DIR: elsewhere).
 *   --scale      latest-scale.*: 1–3 worker processes, and one worker pinned to its own core
 *   --only big   latest-big.*: the big-batch case alone
 * Knobs: BENCH_BATCHES (300), BENCH_SENDERS (5), BENCH_WARMUP_BATCHES (60: each measured webhook and
 * pipeline takes them first, unmeasured; 0 = none), BENCH_BIG_BATCHES (3), BENCH_BIG_MB (20),
 * BENCH_STALL_MS (120000: a pipeline case whose drain makes no progress this long fails).
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ensureElasticsearch, ensureRedis } from '@crtrail/stack';
import { createEsClient, deletePrefix } from '@crtrail/store';
import { deleteRedisPrefix } from '@crtrail/testkit';
import { generateBigBatches } from './big-workload.js';
import { runBigBatches } from './lib/big-batches.js';
import { ceilingEsBulk, ceilingParseRedis } from './lib/ceilings.js';
import { floorSection, workerFloor } from './lib/floor.js';
import { runPipeline } from './lib/pipeline.js';
import { crtrail, freePort, peakRssMb, stop, waitHttp } from './lib/processes.js';
import { bigBatchSection, figure, mainReport, provenance, target } from './lib/report.js';
import { runScale } from './lib/scale.js';
import { APISERVER_BURST, APISERVER_QPS, senders, type Sender, type Sent } from './lib/senders.js';
import { ES_URL, outDir, REDIS_URL, root, say } from './lib/setup.js';
import { pct, round } from './lib/stats.js';
import { generateWorkload } from './workload.js';

const argv = process.argv.slice(2);
const SCALE = argv.includes('--scale');
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;
if (only !== undefined && only !== 'big') throw new Error(`--only ${only}: only "big" can run alone`);
const BATCHES = Number(process.env.BENCH_BATCHES || 300);
const SENDERS = Number(process.env.BENCH_SENDERS || 5);
const BIG_BATCHES = Number(process.env.BENCH_BIG_BATCHES || 3);
const BIG_MB = Number(process.env.BENCH_BIG_MB || 20);

const workload = generateWorkload(only ? 0 : BATCHES);
if (!only)
  say(
    `workload: ${workload.bodies.length} batches, ${workload.events} events, ${workload.crWrites} custom-resource writes`,
  );
const { eachBody, send, sendAtApiserverRate, warmUp } = senders(workload, SENDERS);
/**
 * Batches each measured webhook and pipeline takes first, unmeasured (BENCH_WARMUP_BATCHES): a
 * deployment runs warm, and a fresh process's first second (V8 compiling its hot code, on the
 * worker also Elasticsearch's JIT on a freshly started node) is not what it sustains.
 */
const WARMUP_BATCHES = Number(process.env.BENCH_WARMUP_BATCHES ?? Math.min(60, Math.floor(BATCHES / 5)));
const warm = (url: string) => warmUp(url, WARMUP_BATCHES);

// What the bench starts itself it stops at the end (as `npm test` does), or its process never exits.
const startedRedis = (await ensureRedis(REDIS_URL, say)).started;
const startedEs = (await ensureElasticsearch(ES_URL, {}, say)).started;
const es = createEsClient({ url: ES_URL });
const redis = new Redis(REDIS_URL);

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
mkdirSync(outDir, { recursive: true });

/** The big-batch case under its own prefix, removed after; generated only now, not to weigh on the load generator before. */
async function bigCase(prefix: string) {
  const big = generateBigBatches(BIG_BATCHES, BIG_MB);
  say(
    `big batches: ${big.bodies.length} × ${BIG_MB} MiB (${big.events} events, ${big.crWrites} custom-resource writes) at once to webhook + 1 worker…`,
  );
  const bigPrefix = `${prefix}-big`;
  try {
    return await runBigBatches(es, bigPrefix, big);
  } finally {
    await cleanup(bigPrefix);
  }
}

if (SCALE) {
  const md = await runScale(es, workload, send, warm, cleanup, {
    machine,
    git: { commit },
    workload: {
      batches: BATCHES,
      events: workload.events,
      cr_writes: workload.crWrites,
      warmup_batches: WARMUP_BATCHES,
    },
  });
  process.stdout.write(md);
} else if (only === 'big') {
  const b = await bigCase(`bench-${Date.now().toString(36)}`);
  const json = { big_batches: b, machine, git: { commit }, at: new Date().toISOString() };
  writeFileSync(join(outDir, 'latest-big.json'), JSON.stringify(json, null, 2) + '\n');
  const md = [
    '# crtrail benchmark: big batches alone',
    '',
    provenance(json.at, commit, machine),
    '',
    ...bigBatchSection(b),
    '',
  ];
  writeFileSync(join(outDir, 'latest-big.md'), md.join('\n'));
  process.stdout.write(md.join('\n'));
} else {
  const prefix = `bench-${Date.now().toString(36)}`;
  /** The webhook alone (no worker: its batches just queue up in Redis) under `sender`'s load. */
  const webhookAlone = async <S extends Sent>(sender: Sender<S>, label: string) => {
    const hookPort = await freePort();
    const hookPrefix = `${prefix}-${label}`;
    const hook = crtrail(['up', '--webhook-only'], {
      CRTRAIL_INDEX_PREFIX: hookPrefix,
      CRTRAIL_PORT: String(hookPort),
      CRTRAIL_REDIS_URL: REDIS_URL,
    });
    await waitHttp(`http://127.0.0.1:${hookPort}/healthz`);
    await warm(`http://127.0.0.1:${hookPort}`);
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
    parseRedis = Math.max(parseRedis, await ceilingParseRedis(redis, prefix, workload.events, eachBody));
    say(`webhook alone (no worker), saturated (${round}/2)…`);
    runs.push(await webhookAlone(send, `w${round}`));
  }
  const rateOf = (r: (typeof runs)[number]) => r.sent.acked / r.sent.seconds;
  const w = runs.reduce((a, b) => (rateOf(b) > rateOf(a) ? b : a)).sent;
  const webhookRss = Math.max(...runs.map((r) => r.rss));
  say(`webhook alone (no worker) at the apiserver rate, ${SENDERS} × ${APISERVER_QPS} batches/s…`);
  const { sent: wr, rss: webhookRatedRss } = await webhookAlone(sendAtApiserverRate, 'wr');
  say('whole pipeline (webhook + 1 worker), saturated…');
  const p = await runPipeline(es, prefix, 1, send, workload.crWrites, warm);
  say('ceiling: raw bulk of the same documents…');
  const esBulk = await ceilingEsBulk(es, prefix);
  await cleanup(prefix);
  // Latency at the load the targets are about; the same bodies again, into a fresh prefix.
  say(`whole pipeline (webhook + 1 worker) at the apiserver rate, ${SENDERS} × ${APISERVER_QPS} batches/s…`);
  const ratedPrefix = `${prefix}-r`;
  const r = await runPipeline(es, ratedPrefix, 1, sendAtApiserverRate, workload.crWrites, warm);
  await cleanup(ratedPrefix);
  say("the worker's floor: its pure steps and its writes alone, against Elasticsearch's CPU…");
  const floorPrefix = `${prefix}-floor`;
  const floor = await workerFloor(es, redis, floorPrefix, workload);
  await cleanup(floorPrefix);
  const b = await bigCase(prefix);
  const webhookEps = w.acked / w.seconds;
  const rssByCase = {
    webhook_alone_saturated: { webhook: webhookRss },
    webhook_alone_rated: { webhook: webhookRatedRss },
    pipeline_saturated: p.rss,
    pipeline_rated: r.rss,
    big_batches: b.rss_mb,
  };
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
      // Saturated run: how much CPU the worker spends per change against what indexing it costs Elasticsearch.
      worker_vs_es_cpu: round(p.cpuPerChange.worker! / Math.max(0.001, p.cpuPerChange.elasticsearch!), 3),
    },
    /** The largest peak RSS of each process over every case, the big batches included. */
    rss_mb: {
      webhook: Math.max(...Object.values(rssByCase).map((c) => c.webhook)),
      worker: Math.max(p.rss.worker, r.rss.worker, b.rss_mb.worker),
    },
    rss_mb_by_case: rssByCase,
    worker_floor: floor,
    cpu_ms_per_change: { saturated: p.cpuPerChange, rated: r.cpuPerChange },
    big_batches: { ...b, mb: BIG_MB },
    targets: [] as ReturnType<typeof target>[],
    machine,
    git: { commit },
    workload: {
      batches: BATCHES,
      events: workload.events,
      cr_writes: workload.crWrites,
      senders: SENDERS,
      batch_events: 400,
      warmup_batches: WARMUP_BATCHES,
    },
    at: new Date().toISOString(),
  };
  const rate = `at the apiserver rate (${SENDERS} × ${APISERVER_QPS} batches/s)`;
  const saturated = `at saturation (${SENDERS} closed-loop senders)`;
  result.targets = [
    target('worker CPU ÷ Elasticsearch CPU per change, saturated pipeline', result.ratios.worker_vs_es_cpu, '≤', 1),
    target(
      'pipeline changes/s ÷ raw `_bulk` docs/s of the same documents',
      result.ratios.pipeline_vs_es_bulk,
      '≥',
      0.5,
    ),
    target(
      'webhook events/s ÷ JSON.parse + Redis write of the same bodies',
      result.ratios.webhook_vs_parse_redis,
      '≥',
      0.5,
    ),
    target(`ack p99 ms ${rate}, webhook alone`, result.webhook.ack_p99_ms, '≤', 25),
    target(`lag p99 ms (ack → searchable) ${rate}`, result.pipeline.lag_p99_ms, '≤', 2000),
    target('webhook peak RSS MB, every case incl. the big batches', result.rss_mb.webhook, '≤', 300),
    target('worker peak RSS MB, every case incl. the big batches', result.rss_mb.worker, '≤', 300),
    figure("worker's floor ÷ Elasticsearch CPU (pure steps and writes alone, below)", floor.floor_vs_es),
    figure('pipeline CR changes/s (saturated)', result.pipeline.changes_per_s),
    figure('webhook events/s acked (saturated, webhook alone)', result.webhook.events_per_s),
    figure(`ack p99 ms ${rate}, whole pipeline on the same cores`, result.webhook.pipeline_ack_p99_ms),
    figure(`ack p99 ms ${saturated}`, result.webhook.saturated_ack_p99_ms),
    figure(`lag p99 ms (ack → searchable) ${saturated}`, result.pipeline.saturated_lag_p99_ms),
    figure('big batches: slowest ack ms', Math.max(...b.batches.map((x) => x.ack_ms))),
    figure(
      'big batches: slowest all-searchable ms (from the send)',
      Math.max(...b.batches.map((x) => x.searchable_ms)),
    ),
  ];
  writeFileSync(join(outDir, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
  const md = mainReport(
    {
      at: result.at,
      commit,
      machine,
      batches: BATCHES,
      events: workload.events,
      crWrites: workload.crWrites,
      senders: SENDERS,
      warmupBatches: WARMUP_BATCHES,
      rated: result.rated,
      changesPerS: result.pipeline.changes_per_s,
      cpu: result.cpu_ms_per_change,
      ceilings: result.ceilings,
    },
    result.targets,
    b,
  );
  md.push(...floorSection(floor), '');
  try {
    md.push(readFileSync(join(root, 'bench', 'ANALYSIS.md'), 'utf8'));
  } catch {
    /* no analysis yet */
  }
  writeFileSync(join(outDir, 'latest.md'), md.join('\n'));
  process.stdout.write(md.join('\n') + '\n');
}
await es.close();
redis.disconnect();
for (const m of [startedEs, startedRedis]) if (m) await m.stop();
