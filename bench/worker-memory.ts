// Heap per byte of job JSON while the worker processes a job, and the longest the event loop is held.
// The sizing rule of the worker's defaults (packages/config/src/env.ts, README "Worker") comes from it:
//   concurrency × largest job (bytes of JSON) × expansion factor + base heap ≤ heap limit, with headroom.
// Real processBatch (filter, redaction, engine, enrichment, chain, bulk) on real Redis and Elasticsearch.
// Usage: node --expose-gc --import tsx bench/worker-memory.ts   (ROUNDS=4, EVENT_KB=25, JOB_MB=2)
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { AuditEvent } from '@crtrail/audit';
import { defaultConfig } from '@crtrail/config';
import { installTemplates } from '@crtrail/store';
import { testRedis, testEs, cleanupPrefix, uniquePrefix } from '@crtrail/testkit';
import { processBatch, createEnricher } from '@crtrail/worker';
import { batchDeps } from '../test/helpers/batch-deps.js';
import { generateWorkload } from './workload.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const EVENT_KB = Number(process.env.EVENT_KB || 25);
const JOB_MB = Number(process.env.JOB_MB || 2);
const ROUNDS = Number(process.env.ROUNDS || 4);
const mb = (b: number) => (b / 1024 / 1024).toFixed(1);

/** A custom resource of about `kb` KB: nested spec sections like a real CR. */
function spec(kb: number, salt: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let g = 0; JSON.stringify(out).length < kb * 1024; g++) {
    const section: Record<string, unknown> = {};
    for (let f = 0; f < 10; f++)
      section[`setting${f}`] = f % 3 === 0 ? g * 10 + f : `value-${salt}-${g}-${f}-padding-padding`;
    out[`section${g}`] = section;
  }
  return out;
}

/** One job of JOB_MB MB of EVENT_KB KB update events over distinct objects (round r changes one field of each). */
function job(round: number): string {
  const events: AuditEvent[] = [];
  const count = Math.floor((JOB_MB * 1024) / EVENT_KB);
  for (let i = 0; i < count; i++) {
    // An update/create carries its object twice (request + response): half the event each.
    const s = spec(EVENT_KB / 2, `o${i}`);
    (s.section0 as Record<string, unknown>).setting1 = `round-${round}`;
    const object = {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: `w-${i}`, namespace: 'bench', uid: `u-${i}`, resourceVersion: String(100 + round) },
      spec: s,
    };
    events.push({
      level: 'RequestResponse',
      auditID: `mem-${round}-${i}`,
      stage: 'ResponseComplete',
      verb: round === 0 ? 'create' : 'update',
      requestURI: `/apis/example.com/v1/namespaces/bench/widgets/w-${i}`,
      user: { username: 'alice' },
      sourceIPs: ['10.0.0.1'],
      objectRef: { apiGroup: 'example.com', apiVersion: 'v1', resource: 'widgets', namespace: 'bench', name: `w-${i}` },
      responseStatus: { code: round === 0 ? 201 : 200 },
      requestReceivedTimestamp: new Date(Date.UTC(2026, 0, 1, 0, round, i)).toISOString(),
      stageTimestamp: new Date(Date.UTC(2026, 0, 1, 0, round, i, 500)).toISOString(),
      requestObject: object,
      responseObject: object,
    } as unknown as AuditEvent);
  }
  return JSON.stringify({ cluster: 'bench', receivedAt: Date.now(), events });
}

const prefix = uniquePrefix('mem');
const es = testEs();
const redis = testRedis();
await installTemplates(es, prefix);
const config = defaultConfig();
const enrich = createEnricher(config);
const deps = batchDeps(es, redis, prefix, { config, enrich, salt: 'bench-salt-bench-salt', refresh: false });

/** Peak heap above the baseline while `work` runs, sampled every millisecond the loop is free and at each yield. */
async function peakHeap(work: () => Promise<unknown>): Promise<{ peak: number; base: number }> {
  gc!();
  await yieldToLoop();
  gc!();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 1);
  await work();
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  clearInterval(timer);
  return { peak, base };
}

const factors: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const text = job(round);
  // BullMQ holds the job's JSON text and its parsed data while the processor runs: both count.
  const { peak, base } = await peakHeap(async () => processBatch(JSON.parse(text), deps));
  const factor = (peak - base) / text.length;
  factors.push(factor);
  process.stdout.write(
    `round ${round} (${round === 0 ? 'creates' : 'updates'}): job ${mb(text.length)} MB, heap base ${mb(base)} MB, peak +${mb(peak - base)} MB → ${factor.toFixed(1)} × the job's JSON\n`,
  );
}
const heap = process.memoryUsage().heapUsed;
process.stdout.write(
  `expansion factor (max over rounds): ${Math.max(...factors).toFixed(1)}; heap after the rounds (history cache included) ${mb(heap)} MB\n`,
);

// The longest the event loop is held by one big job: the workload's batches merged into one job.
const w = generateWorkload(Number(process.env.BIG_BATCHES ?? 150));
const big = {
  cluster: 'bench-big',
  receivedAt: Date.now(),
  events: w.bodies.flatMap((b) => JSON.parse(b.body).items as AuditEvent[]),
};
const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
const t0 = Date.now();
await processBatch(big, deps);
h.disable();
process.stdout.write(
  `one job of ${big.events.length} events (${w.crWrites} custom-resource writes): ${((Date.now() - t0) / 1000).toFixed(1)} s, longest event-loop block ${(h.max / 1e6).toFixed(0)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(0)} ms\n`,
);

await cleanupPrefix(prefix, es, redis);
await es.close();
redis.disconnect();
