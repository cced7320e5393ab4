// Golden output of the worker's pure steps on the bench workload (as bench/worker-cpu.ts runs
// them, with fixed times): every record as sealed and as its bulk line serializes it, every
// repair, every history entry as saved and every chain head, hashed. A CPU change to the engine or
// the chain must leave the hash unchanged: records, state hashes and chain hashes are verified later.
// Usage: node --import tsx bench/engine-golden.ts [batches] [output file]
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
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
const out = process.argv[3];
const config = defaultConfig();
const enrich = createEnricher(config);
const receivedAt = Date.UTC(2026, 10, 24, 12, 0, 0);
const ingestedAt = receivedAt + 1234;
const digest = createHash('sha256');
const lines: string[] = [];
const emit = (tag: string, text: string): void => {
  digest.update(`${tag}\n${text}\n`);
  if (out) lines.push(tag, text);
};
const histories = new Map<string, History>();
const heads = new Map<string, ChainHead>();
let records = 0;
for (const b of w.bodies) {
  const items = (JSON.parse(b.body) as { items: AuditEvent[] }).items.filter((e) => classifyEvent(e).keep);
  const data = JSON.parse(JSON.stringify({ cluster: b.cluster, receivedAt, events: items })) as {
    cluster: string;
    events: AuditEvent[];
  };
  const kept = data.events.filter((e) => classifyEvent(e).keep).map((e) => redactEvent(e, config, 'salt'));
  const plan = planBatch(data.cluster, kept, histories, { ignorePaths: DEFAULT_IGNORE_PATHS, actorOf: enrich.actorOf });
  const docs = recordDocs(plan, data.cluster, enrich, { receivedAt, ingestedAt, configDigest: 'golden' });
  const parts = docs.map((r) => chainParts(r, data.cluster, true));
  const head = sealRecords(heads.get(data.cluster) ?? { seq: 0, hash: GENESIS_HASH }, data.cluster, docs, parts);
  heads.set(data.cluster, head);
  emit('head', `${data.cluster} ${head.seq} ${head.hash}`);
  for (const d of docs) {
    emit('bulk', stringifyReusing(d as unknown as Record<string, unknown>));
    emit('record', JSON.stringify(d));
  }
  records += docs.length;
  emit('repairs', JSON.stringify(plan.repairs));
  emit('poisoned', JSON.stringify(plan.poisoned.map((p) => [p.event.auditID, p.reason])));
  for (const h of plan.historyWrites) {
    const old = new Set<object>(histories.get(h.id)?.versions ?? []);
    for (const v of h.history.versions)
      if (!old.has(v)) emit('version', stringifyReusing(v as unknown as Record<string, unknown>));
    for (const d of h.history.dependents ?? [])
      emit('dependent', stringifyReusing(d as unknown as Record<string, unknown>));
    emit('history', `${h.id} ${JSON.stringify(h.history)}`);
    histories.set(h.id, h.history);
  }
}
if (out) writeFileSync(out, `${lines.join('\n')}\n`);
console.log(`${records} records, golden sha256 ${digest.digest('hex')}`);
