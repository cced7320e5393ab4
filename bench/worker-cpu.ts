// The worker's per-change CPU without any I/O: the bench workload's custom-resource writes pushed
// through the same steps processBatch takes (job data parse, filter, redaction, engine, enrichment,
// record, hash chain, bulk serialization, history serialization), each step timed.
// Usage: node --import tsx bench/worker-cpu.ts [batches]
import { performance } from 'node:perf_hooks';
import type { AuditEvent } from '@crtrail/audit';
import { objectKeyString, stringifyReusing } from '@crtrail/audit';
import { defaultConfig } from '@crtrail/config';
import { applyMutation, expandMutations, stateHash, DEFAULT_IGNORE_PATHS, type History } from '@crtrail/diff';
import { classifyEvent } from '@crtrail/filter';
import { redactEvent } from '@crtrail/enrich';
import { chainParts, sealRecords, GENESIS_HASH, type ChainHead } from '@crtrail/integrity';
import { buildRecord } from '@crtrail/store';
import { createEnricher } from '@crtrail/worker';
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
  const kept = time('filter + redact', () => data.events.filter((e) => classifyEvent(e).keep).map((e) => redactEvent(e, config, 'salt')));
  const docs = time('engine (diff, state hash)', () =>
    kept.flatMap((e) =>
      expandMutations(e, data.cluster).map(({ key, mutation }) => {
        mutation.meta = { actor: enrich.actorOf(e, mutation.object) };
        const k = objectKeyString(key);
        const r = applyMutation(histories.get(k), mutation, { ignorePaths: DEFAULT_IGNORE_PATHS });
        histories.set(k, r.history);
        return { id: mutation.recordId, event: e, object: mutation.object ?? undefined, change: r.record, previous: r.previous, stored: r.history.versions.at(-1)?.object };
      }),
    ),
  );
  const records = time('enrich + record', () =>
    docs.map((r) => {
      const { actor, change } = enrich(r);
      return buildRecord({ cluster: data.cluster, event: r.event, object: r.object, change: r.previous ? { ...change, prev_state_hash: stateHash(r.previous) } : change, actor, receivedAt: Date.now(), ingestedAt: Date.now() });
    }),
  );
  time('hash chain', () => {
    const parts = records.map((r) => chainParts(r, data.cluster, true));
    heads.set(data.cluster, sealRecords(heads.get(data.cluster) ?? { seq: 0, hash: GENESIS_HASH }, data.cluster, records, parts));
  });
  time('bulk body', () => {
    for (const r of records) bytes += stringifyReusing(r).length;
  });
  time('history text', () => {
    for (const r of docs) stringifyReusing({ recordId: r.id, object: r.stored });
  });
  changes += records.length;
}
const total = performance.now() - t0;
console.log(`${changes} changes, ${(total / changes).toFixed(3)} ms CPU each (${Math.round((changes * 1000) / total)} changes/s), mean record ${Math.round(bytes / changes)} bytes`);
for (const [k, v] of times) console.log(`  ${k.padEnd(28)} ${(v / changes).toFixed(3)} ms  ${((100 * v) / total).toFixed(1)} %`);
