// The worker's per-change CPU without any I/O: the bench workload's custom-resource writes pushed
// through the steps processBatch takes (job data parse, filter, redaction, planBatch — the pure
// change engine the worker calls —, enrichment, record, hash chain, bulk serialization, history
// serialization), each step timed; Redis and Elasticsearch are left out (histories stay in memory).
// Usage: node --import tsx bench/worker-cpu.ts [batches]
import { performance } from 'node:perf_hooks';
import type { AuditEvent } from '@crtrail/audit';
import { stringifyReusing } from '@crtrail/audit';
import { defaultConfig } from '@crtrail/config';
import { planBatch, DEFAULT_IGNORE_PATHS, type History } from '@crtrail/diff';
import { classifyEvent } from '@crtrail/filter';
import { redactEvent } from '@crtrail/enrich';
import { chainParts, sealRecords, GENESIS_HASH, type ChainHead } from '@crtrail/integrity';
import { createEnricher } from '@crtrail/worker';
import { recordDocs } from './lib/records.js';
import { generateWorkload } from './workload.js';

const w = generateWorkload(Number(process.argv[2] || 300));
const config = defaultConfig();
const enrich = createEnricher(config);
// As the webhook enqueues them: only the custom-resource events, one job per batch.
const jobs = w.bodies.map((b) => {
  const items = (JSON.parse(b.body) as { items: AuditEvent[] }).items.filter((e) => classifyEvent(e).keep);
  return { cluster: b.cluster, text: JSON.stringify({ cluster: b.cluster, receivedAt: Date.now(), events: items }) };
});
const times = new Map<string, number>();
const time = <T>(step: string, fn: () => T): T => {
  const t = performance.now();
  const r = fn();
  times.set(step, (times.get(step) ?? 0) + performance.now() - t);
  return r;
};
const histories = new Map<string, History>();
const heads = new Map<string, ChainHead>();
let changes = 0;
let bytes = 0;
const t0 = performance.now();
for (const job of jobs) {
  const data = time('job JSON.parse', () => JSON.parse(job.text) as { cluster: string; events: AuditEvent[] });
  const kept = time('filter + redact', () =>
    data.events.filter((e) => classifyEvent(e).keep).map((e) => redactEvent(e, config, 'salt')),
  );
  const plan = time('engine (planBatch)', () =>
    planBatch(data.cluster, kept, histories, { ignorePaths: DEFAULT_IGNORE_PATHS, actorOf: enrich.actorOf }),
  );
  const records = time('enrich + record', () =>
    recordDocs(plan, data.cluster, enrich, { receivedAt: Date.now(), ingestedAt: Date.now() }),
  );
  time('hash chain', () => {
    const parts = records.map((r) => chainParts(r, data.cluster, true));
    heads.set(
      data.cluster,
      sealRecords(heads.get(data.cluster) ?? { seq: 0, hash: GENESIS_HASH }, data.cluster, records, parts),
    );
  });
  time('bulk body', () => {
    for (const r of records) bytes += stringifyReusing(r).length;
  });
  time('history text', () => {
    // What saveHistories writes: the entries a batch added (histories are immutable, kept ones are the same objects).
    for (const w of plan.historyWrites) {
      const old = new Set<object>(histories.get(w.id)?.versions ?? []);
      for (const v of w.history.versions) if (!old.has(v)) stringifyReusing(v as unknown as Record<string, unknown>);
      histories.set(w.id, w.history);
    }
  });
  changes += records.length;
}
const total = performance.now() - t0;
console.log(
  `${changes} changes, ${(total / changes).toFixed(3)} ms CPU each (${Math.round((changes * 1000) / total)} changes/s), mean record ${Math.round(bytes / changes)} bytes`,
);
for (const [k, v] of times)
  console.log(`  ${k.padEnd(28)} ${(v / changes).toFixed(3)} ms  ${((100 * v) / total).toFixed(1)} %`);
