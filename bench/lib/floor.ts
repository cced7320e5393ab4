/**
 * The floor of the worker's CPU per change, against Elasticsearch's on the same documents: what no
 * worker design avoids. The pure steps (job parse, the change engine, the record, the hash chain,
 * the texts, as bench/worker-cpu.ts runs them, warmed), then the same records written with the
 * worker's own bulkWrite in units of 100 with 2 in flight (as its joiner runs them, without the
 * existence checks, locks or BullMQ), and their history entries to Redis in one pipeline per unit.
 * Each step is this process's CPU (all its threads); Elasticsearch's and Redis's are their processes'.
 */
import type { Redis } from 'ioredis';
import type { Client } from '@elastic/elasticsearch';
import type { AuditEvent } from '@crtrail/audit';
import { stringifyReusing } from '@crtrail/audit';
import { defaultConfig } from '@crtrail/config';
import { planBatch, DEFAULT_IGNORE_PATHS, type History } from '@crtrail/diff';
import { classifyEvent } from '@crtrail/filter';
import { redactEvent } from '@crtrail/enrich';
import { chainParts, sealRecords, GENESIS_HASH, type ChainHead } from '@crtrail/integrity';
import { bulkWrite, indexNames, installTemplates, type BulkAction } from '@crtrail/store';
import { createEnricher } from '@crtrail/worker';
import { cpuMs, esPid, redisPid } from './processes.js';
import { recordDocs } from './records.js';
import { round } from './stats.js';
import type { Workload } from '../workload.js';

/** CPU ms per change of each step, and the floor's ratio to Elasticsearch's CPU on the same writes. */
export interface WorkerFloor {
  changes: number;
  pure_ms: number;
  bulk_client_ms: number;
  history_client_ms: number;
  floor_ms: number;
  es_ms: number;
  redis_ms: number;
  bulk_docs_per_s: number;
  floor_vs_es: number;
}

const UNIT = 100;

const processCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** The pure steps over every job from empty histories: the sealed records and the history entries saved. */
function build(jobs: string[]) {
  const config = defaultConfig();
  const enrich = createEnricher(config);
  const histories = new Map<string, History>();
  const heads = new Map<string, ChainHead>();
  const docs: BulkAction[] = [];
  const entries: Array<[string, string]> = [];
  for (const text of jobs) {
    const data = JSON.parse(text) as { cluster: string; events: AuditEvent[] };
    const kept = data.events.filter((e) => classifyEvent(e).keep).map((e) => redactEvent(e, config, 'salt'));
    const plan = planBatch(data.cluster, kept, histories, {
      ignorePaths: DEFAULT_IGNORE_PATHS,
      actorOf: enrich.actorOf,
    });
    const records = recordDocs(plan, data.cluster, enrich, { receivedAt: Date.now(), ingestedAt: Date.now() });
    const parts = records.map((r) => chainParts(r, data.cluster, true));
    const head = heads.get(data.cluster) ?? { seq: 0, hash: GENESIS_HASH };
    heads.set(data.cluster, sealRecords(head, data.cluster, records, parts));
    for (const r of records) docs.push({ kind: 'create', id: `${data.cluster}-${docs.length}`, doc: r });
    for (const hw of plan.historyWrites) {
      const old = new Set<object>(histories.get(hw.id)?.versions ?? []);
      for (const v of hw.history.versions)
        if (!old.has(v)) entries.push([hw.id, stringifyReusing(v as unknown as Record<string, unknown>)]);
      histories.set(hw.id, hw.history);
    }
  }
  return { docs, entries };
}

/** Runs `fn` over `items` from `loops` concurrent loops. */
async function inLoops<T>(items: T[], loops: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      for (let i = next++; i < items.length; i = next++) await fn(items[i]!, i);
    }),
  );
}

/** Measures the floor on `workload`'s custom-resource writes, under `prefix` (the caller removes it). */
export async function workerFloor(es: Client, redis: Redis, prefix: string, workload: Workload): Promise<WorkerFloor> {
  // As the webhook enqueues them: the kept events of each batch, one job per batch.
  const jobs = workload.bodies.map((b) => {
    const items = (JSON.parse(b.body) as { items: AuditEvent[] }).items.filter((e) => classifyEvent(e).keep);
    return JSON.stringify({ cluster: b.cluster, receivedAt: Date.now(), events: items });
  });
  build(jobs); // warmed: a worker under load runs optimized code
  let c = processCpuMs();
  const { docs, entries } = build(jobs);
  const pure = processCpuMs() - c;

  await installTemplates(es, prefix);
  const alias = indexNames(prefix).alias;
  const units: BulkAction[][] = [];
  for (let i = 0; i < docs.length; i += UNIT) units.push(docs.slice(i, i + UNIT));
  const es0 = cpuMs(esPid() ?? 0);
  c = processCpuMs();
  const t0 = performance.now();
  await inLoops(units, 2, (u) => bulkWrite(es, alias, u, false));
  const seconds = (performance.now() - t0) / 1000;
  const bulkClient = processCpuMs() - c;
  const esCpu = cpuMs(esPid() ?? 0) - es0;

  const perUnit = Math.ceil(entries.length / units.length);
  const groups: Array<Array<[string, string]>> = [];
  for (let i = 0; i < entries.length; i += perUnit) groups.push(entries.slice(i, i + perUnit));
  const r0 = cpuMs(redisPid() ?? 0);
  c = processCpuMs();
  await inLoops(groups, 2, (g, i) => {
    const m = redis.multi();
    for (const [id, text] of g) m.hset(`${prefix}:floor:${id}`, String(i), text);
    return m.exec();
  });
  const historyClient = processCpuMs() - c;
  const redisCpu = cpuMs(redisPid() ?? 0) - r0;

  const n = docs.length;
  const floor = (pure + bulkClient + historyClient) / n;
  return {
    changes: n,
    pure_ms: round(pure / n, 3),
    bulk_client_ms: round(bulkClient / n, 3),
    history_client_ms: round(historyClient / n, 3),
    floor_ms: round(floor, 3),
    es_ms: round(esCpu / n, 3),
    redis_ms: round(redisCpu / n, 3),
    bulk_docs_per_s: Math.round(n / seconds),
    floor_vs_es: round(floor / (esCpu / n), 2),
  };
}

/** The report's lines for the floor. */
export function floorSection(f: WorkerFloor): string[] {
  return [
    `The worker's floor, measured in the same run (\`bench/lib/floor.ts\`): the same ${f.changes} changes through the worker's pure steps (job parse, change engine, record, hash chain, texts), then their records written with the worker's own \`bulkWrite\` in units of ${UNIT}, 2 in flight (${f.bulk_docs_per_s} docs/s), and their history entries to Redis, with no lock, existence check, queue or other process in between. CPU ms per change:`,
    '',
    '| step | ms/change |',
    '|---|---|',
    `| pure steps | ${f.pure_ms} |`,
    `| sending the records (bulk client) | ${f.bulk_client_ms} |`,
    `| sending the history entries (Redis client) | ${f.history_client_ms} |`,
    `| **the worker's floor** | **${f.floor_ms}** |`,
    `| Elasticsearch, indexing those records | ${f.es_ms} |`,
    `| Redis, storing the entries | ${f.redis_ms} |`,
    `| **floor ÷ Elasticsearch** | **${f.floor_vs_es}** |`,
  ];
}
