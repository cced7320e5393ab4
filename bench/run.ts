/**
 * `npm run bench`: measures the webhook and the whole pipeline against their physical ceilings in
 * one run, on this machine, with Redis and Elasticsearch brought up as `npm start` does.
 * Writes bench/results/latest.json + latest.md (`--scale`: latest-scale.*, 1–3 worker processes).
 */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { ensureElasticsearch, ensureRedis, repoRoot } from '@crtrail/stack';
import { createEsClient, deletePrefix, indexNames, recordMapping } from '@crtrail/store';
import { createBatchQueue } from '@crtrail/queue';
import { deleteRedisPrefix } from '@crtrail/testkit';
import { generateWorkload } from './workload.js';

const args = new Set(process.argv.slice(2));
const SCALE = args.has('--scale');
const BATCHES = Number(process.env.BENCH_BATCHES || 300);
const SENDERS = Number(process.env.BENCH_SENDERS || 5);
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

function crtrail(argsList: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [join(root, 'services/cli/bin/crtrail.js'), ...argsList], {
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
    await new Promise((r) => setTimeout(r, 100));
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
say(`workload: ${workload.bodies.length} batches, ${workload.events} events, ${workload.crWrites} custom-resource writes`);

await ensureRedis(REDIS_URL, say);
await ensureElasticsearch(ES_URL, {}, say);
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

/** Sends every body with SENDERS concurrent connections; returns per-request ack latencies and ack times. */
async function send(url: string) {
  const latencies: number[] = [];
  const acks: Array<{ at: number; cr: number; index: number }> = [];
  let acked = 0;
  const t0 = performance.now();
  await eachBody(async (b, i) => {
    const start = performance.now();
    const res = await fetch(`${url}/audit/${b.cluster}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: b.body });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
    const end = performance.now();
    latencies.push(end - start);
    acks.push({ at: end, cr: b.crWrites, index: i });
    acked += b.events;
  });
  const seconds = (performance.now() - t0) / 1000;
  return { latencies, acks, acked, seconds, t0 };
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

async function runPipeline(prefix: string, workers: number) {
  const port = await freePort();
  const env = { CRTRAIL_INDEX_PREFIX: prefix, CRTRAIL_PORT: String(port), CRTRAIL_REDIS_URL: REDIS_URL, CRTRAIL_ES_URL: ES_URL };
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
      await new Promise((r) => setTimeout(r, REFRESH_POLL_MS));
    }
  })();
  const sent = await send(url);
  const queue = createBatchQueue(prefix, new Redis(REDIS_URL, { maxRetriesPerRequest: null }));
  for (;;) {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed');
    const n = (await es.count({ index: alias }).catch(() => ({ count: 0 }))).count;
    if (Object.values(c).every((x) => x === 0) && n >= workload.crWrites) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  polling = false;
  await poller;
  const end = polls.at(-1)!.at;
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
  return {
    sent,
    changesPerS: indexed / ((end - sent.t0) / 1000),
    indexed,
    lagP50: pct(lags, 50),
    lagP99: pct(lags, 99),
    rss,
  };
}

async function ceilingEsBulk(prefix: string): Promise<number> {
  const alias = indexNames(prefix).alias;
  const docs: unknown[] = [];
  let after: unknown[] | undefined;
  for (;;) {
    const res = await es.search({ index: alias, size: 2000, sort: [{ 'event.id': 'asc' }], ...(after ? { search_after: after as never } : {}) });
    if (res.hits.hits.length === 0) break;
    for (const h of res.hits.hits) docs.push(h._source);
    after = res.hits.hits.at(-1)!.sort as unknown[];
  }
  const target = `${prefix}-ceiling`;
  await es.indices.create({ index: target, mappings: recordMapping, settings: { number_of_shards: 1, number_of_replicas: 0 } });
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

const machine = { cores: cpus().length, memory_gb: round(totalmem() / 2 ** 30), node: process.version, cpu: cpus()[0]?.model ?? '' };
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
    const r = await runPipeline(prefix, workers);
    rows.push({ workers, changes_per_s: round(r.changesPerS), lag_p99_ms: round(r.lagP99), webhook_events_per_s: round(r.sent.acked / r.sent.seconds), rss_mb_worker: r.rss.worker });
    await cleanup(prefix);
  }
  const json = { scale: rows, machine, git: { commit }, workload: { batches: BATCHES, events: workload.events, cr_writes: workload.crWrites } };
  writeFileSync(join(outDir, 'latest-scale.json'), JSON.stringify(json, null, 2) + '\n');
  const md = ['# crtrail bench:scale', '', '| workers | changes/s | lag p99 ms | webhook events/s | worker RSS MB |', '|---|---|---|---|---|', ...rows.map((r) => `| ${r.workers} | ${r.changes_per_s} | ${r.lag_p99_ms} | ${r.webhook_events_per_s} | ${r.rss_mb_worker} |`), ''];
  writeFileSync(join(outDir, 'latest-scale.md'), md.join('\n'));
  process.stdout.write(md.join('\n'));
} else {
  const prefix = `bench-${Date.now().toString(36)}`;
  say('ceiling: JSON.parse + Redis write of the same bodies…');
  const parseRedis = await ceilingParseRedis(prefix);
  say('webhook alone (no worker)…');
  const hookPort = await freePort();
  const hook = crtrail(['up', '--webhook-only'], { CRTRAIL_INDEX_PREFIX: `${prefix}-w`, CRTRAIL_PORT: String(hookPort), CRTRAIL_REDIS_URL: REDIS_URL });
  await waitHttp(`http://127.0.0.1:${hookPort}/healthz`);
  const w = await send(`http://127.0.0.1:${hookPort}`);
  const webhookRss = peakRssMb(hook.pid!);
  await stop(hook);
  await deleteRedisPrefix(redis, `${prefix}-w`);
  say('whole pipeline (webhook + 1 worker)…');
  const p = await runPipeline(prefix, 1);
  say('ceiling: raw bulk of the same documents…');
  const esBulk = await ceilingEsBulk(prefix);
  await cleanup(prefix);
  const webhookEps = w.acked / w.seconds;
  const result = {
    webhook: { events_per_s: round(webhookEps), ack_p50_ms: round(pct(w.latencies, 50), 2), ack_p99_ms: round(pct(w.latencies, 99), 2) },
    pipeline: { changes_per_s: round(p.changesPerS), lag_p99_ms: round(p.lagP99), lag_p50_ms: round(p.lagP50), changes_indexed: p.indexed },
    ceilings: { parse_redis_events_per_s: round(parseRedis), es_bulk_docs_per_s: round(esBulk) },
    ratios: { webhook_vs_parse_redis: round(webhookEps / parseRedis, 3), pipeline_vs_es_bulk: round(p.changesPerS / esBulk, 3) },
    rss_mb: { webhook: Math.max(webhookRss, p.rss.webhook), worker: p.rss.worker },
    machine,
    git: { commit },
    workload: { batches: BATCHES, events: workload.events, cr_writes: workload.crWrites, senders: SENDERS, batch_events: 400 },
    at: new Date().toISOString(),
  };
  writeFileSync(join(outDir, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
  const targets: Array<[string, number, string, number]> = [
    ['webhook events/s acked', result.webhook.events_per_s, '≥', 20000],
    ['ack p99 ms', result.webhook.ack_p99_ms, '≤', 25],
    ['pipeline CR changes/s', result.pipeline.changes_per_s, '≥', 2000],
    ['lag p99 ms (ack → searchable)', result.pipeline.lag_p99_ms, '≤', 2000],
    ['webhook / parse+Redis', result.ratios.webhook_vs_parse_redis, '≥', 0.5],
    ['pipeline / raw ES bulk', result.ratios.pipeline_vs_es_bulk, '≥', 0.5],
    ['webhook RSS MB', result.rss_mb.webhook, '≤', 300],
    ['worker RSS MB', result.rss_mb.worker, '≤', 300],
  ];
  const md = [
    '# crtrail benchmark',
    '',
    `${result.at} · commit ${commit.slice(0, 12)} · ${machine.cores} cores, ${machine.memory_gb} GiB, Node ${machine.node} · Redis and Elasticsearch on the same machine`,
    '',
    `Workload: ${BATCHES} EventList batches of 400 events (${workload.events} events, ${workload.crWrites} custom-resource writes at RequestResponse level), ${SENDERS} concurrent senders on loopback.`,
    '',
    '| figure | measured | target | met |',
    '|---|---|---|---|',
    ...targets.map(([name, v, op, t]) => `| ${name} | ${v} | ${op} ${t} | ${(op === '≥' ? v >= t : v <= t) ? 'yes' : '**no**'} |`),
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
