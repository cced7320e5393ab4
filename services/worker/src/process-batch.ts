import type { Client } from '@elastic/elasticsearch';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AuditEvent } from '@crtrail/audit';
import { classifyEvent, type FilterOptions } from '@crtrail/filter';
import type { BatchJob } from '@crtrail/queue';
import { buildRecord, bulkWrite, indexNames, opsText, RecordLocator, storedChainHead, type BulkAction, type BulkRejection } from '@crtrail/store';
import { confirmChain, pendingLinks, pushDeadLetters, pushEventDeadLetters, sealChain } from '@crtrail/state';
import { configDigest } from '@crtrail/integrity';
import { stateHash } from '@crtrail/diff';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { WorkerMetrics } from './metrics.js';
import type { ChangeTracker, TrackOutput } from './tracker.js';
import type { Enricher } from './enricher.js';
import type { CrtrailConfig } from '@crtrail/config';
import { learnKinds, redactEvent, type KindStore } from '@crtrail/enrich';

export interface BatchDeps {
  es: Client;
  redis: Redis;
  prefix: string;
  tracker: ChangeTracker;
  /** Finds records already in older backing indices (exactly-once across rollovers). */
  locator?: RecordLocator;
  enrich: Enricher;
  config: CrtrailConfig;
  /** Salt of the redaction hashes (never stored with the data). */
  salt: string;
  /** The resource → kind table redaction decides by (shared through Redis); resource names only when absent. */
  kinds?: KindStore;
  filter?: FilterOptions;
  metrics?: WorkerMetrics;
  log?: Logger;
  /** Alerts on the records this batch created (after they are stored); absent: no alerts configured. */
  alerts?: { enqueue(cluster: string, records: ReadonlyArray<{ id: string; doc: Record<string, unknown> }>): Promise<void> };
  /** `wait_for` makes records searchable before the job completes (tests, replays); off for throughput. */
  refresh?: boolean | 'wait_for';
}

export interface BatchResult {
  events: number;
  mutations: number;
  created: number;
  duplicates: number;
  repaired: number;
  deadLettered: number;
}

async function deadLetter(deps: BatchDeps, cluster: string, rejected: BulkRejection[]): Promise<void> {
  if (rejected.length === 0) return;
  await pushDeadLetters(deps.redis, deps.prefix, cluster, rejected);
  deps.metrics?.dlq.inc({ type: 'record' }, rejected.length);
  deps.metrics?.bulkErrors.inc({ kind: 'item_refused' }, rejected.length);
  for (const r of rejected) deps.log?.error({ cluster, id: r.action.id, status: r.status, reason: r.reason }, 'record dead-lettered');
}

/** Sets aside events whose processing threw (see {@link EventDeadLetter}); the rest of the batch goes on. */
export async function deadLetterEvents(deps: Pick<BatchDeps, 'redis' | 'prefix' | 'metrics' | 'log'>, cluster: string, poisoned: Array<{ event: AuditEvent; reason: string }>): Promise<void> {
  if (poisoned.length === 0) return;
  await pushEventDeadLetters(deps.redis, deps.prefix, cluster, poisoned);
  deps.metrics?.dlq.inc({ type: 'event' }, poisoned.length);
  for (const p of poisoned) deps.log?.error({ cluster, auditID: p.event.auditID, reason: p.reason }, 'event could not be processed; dead-lettered (crtrail dlq list)');
}

/**
 * Events processed between two yields to the event loop. A job may be large (an old webhook's
 * whole apiserver batch, or a replay); processed in one go, 60,000 events held the loop for 66 s,
 * so BullMQ could not renew the job's lock and another worker processed it a second time. In
 * chunks of 100 the longest block in such a job was 0.19 s (bench/worker-memory.ts), and a chunk of
 * 100 events of 25 KB is 2.5 MB of JSON, the size of the largest job the webhook writes.
 * Chunks are processed in order, one after the other, so one object's writes keep their order.
 */
export const CHUNK_EVENTS = 100;

const reasonOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * One BullMQ job: keep the custom-resource mutations of the batch, turn them into change records
 * and write them, in chunks of {@link CHUNK_EVENTS}. Throws (→ BullMQ retries the whole batch,
 * which is safe: `_id`s are deterministic and writes are `create`) when Elasticsearch or Redis is
 * unreachable. An event whose pure processing steps (filter, redaction, diff, enrichment, record)
 * throw is dead-lettered alone instead: retrying it would throw again.
 */
export async function processBatch(job: BatchJob, deps: BatchDeps): Promise<BatchResult> {
  const result: BatchResult = { events: job.events.length, mutations: 0, created: 0, duplicates: 0, repaired: 0, deadLettered: 0 };
  for (let start = 0; start < job.events.length; start += CHUNK_EVENTS) {
    // Lets BullMQ renew the job's lock, other jobs progress and /metrics answer.
    if (start > 0) await yieldToLoop();
    await processChunk(job, job.events.slice(start, start + CHUNK_EVENTS), deps, result);
  }
  deps.metrics?.lag.observe((Date.now() - job.receivedAt) / 1000);
  return result;
}

async function processChunk(job: BatchJob, events: AuditEvent[], deps: BatchDeps, result: BatchResult): Promise<void> {
  const mutations: AuditEvent[] = [];
  const poisoned: Array<{ event: AuditEvent; reason: string }> = [];
  for (const event of events) {
    try {
      const decision = classifyEvent(event, deps.filter);
      deps.metrics?.events.inc({ decision: decision.keep ? 'kept' : decision.reason });
      if (decision.keep) mutations.push(event);
    } catch (err) {
      poisoned.push({ event, reason: `filter: ${reasonOf(err)}` });
    }
  }
  // What is secret is decided from the objectRef: the kinds these events teach are learned first
  // (a Redis failure here throws: the job is retried, nothing is written unredacted).
  if (deps.kinds && mutations.length > 0) await learnKinds(mutations, deps.kinds);
  const kept: AuditEvent[] = [];
  for (const event of mutations) {
    try {
      // Redacted before anything else sees it: state store, records, logs, dead letters.
      kept.push(redactEvent(event, deps.config, deps.salt, deps.kinds));
    } catch (err) {
      poisoned.push({ event, reason: `redaction: ${reasonOf(err)}` });
    }
  }
  await deadLetterEvents(deps, job.cluster, poisoned);
  result.deadLettered += poisoned.length;
  if (kept.length === 0) return;
  const alias = indexNames(deps.prefix).alias;
  const started = process.hrtime.bigint();

  await deps.tracker.track(job.cluster, kept, async (out: TrackOutput) => {
    deps.metrics?.diffSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    const ingestedAt = Date.now();
    // Chained into every record: which configuration its derived fields were computed with.
    const digest = configDigest(deps.config);
    const creates: BulkAction[] = [];
    const unbuildable: Array<{ event: AuditEvent; reason: string }> = [];
    for (const r of out.records) {
      try {
        const { actor, change: enriched, kind } = deps.enrich(r);
        // Which stored state the ops' old values come from: lets `verify` check them (not chained,
        // as repairs rewrite it together with the ops).
        const change = r.previous ? { ...enriched, prev_state_hash: stateHash(r.previous) } : enriched;
        creates.push({
          kind: 'create',
          id: r.id,
          doc: buildRecord({
            cluster: job.cluster,
            event: r.event,
            object: r.object,
            change,
            actor,
            stateAfter: r.stateAfter,
            kind,
            configDigest: digest,
            receivedAt: job.receivedAt,
            ingestedAt,
          }),
        });
      } catch (err) {
        // Its history is saved all the same, so a replay of the event finds the same predecessor
        // and makes the identical record.
        unbuildable.push({ event: r.event, reason: `record: ${reasonOf(err)}` });
      }
    }
    await deadLetterEvents(deps, job.cluster, unbuildable);
    result.deadLettered += unbuildable.length;
    // Records already stored (a replay, or a retry after the write landed) keep their place in the
    // chain: only new ones are sealed, so a seq is never handed to a record that then answers 409.
    const locator = deps.locator ?? new RecordLocator(deps.es, alias);
    const existing = await locator.findExisting(creates.map((c) => c.id));
    const fresh = creates.filter((c) => !existing.has(c.id));
    // Stored by an attempt that then crashed before it confirmed its links — so before it enqueued
    // their alerts, which come between the write and the confirmation: they are alerted now.
    const unconfirmed = deps.alerts ? await pendingLinks(deps.redis, deps.prefix, job.cluster, [...existing.keys()]) : new Set<string>();
    await sealChain(deps.redis, deps.prefix, job.cluster, fresh, () => storedChainHead(deps.es, alias, job.cluster));
    result.duplicates += creates.length - fresh.length;
    deps.metrics?.records.inc({ result: 'duplicate' }, creates.length - fresh.length);
    const actions: BulkAction[] = [...fresh];
    for (const repair of out.repairs) {
      const change = {
        ...repair.change,
        ...deps.enrich.repair(repair),
        prev_state_hash: repair.previous ? stateHash(repair.previous) : null,
        text: opsText(repair.change.ops),
      };
      actions.push({ kind: 'update', id: repair.id, doc: { crtrail: { change } } });
    }
    result.mutations += out.records.length;
    // The locator's second look only matters for repairs (which backing index holds the record).
    const stats = actions.length > 0 ? await timedBulk(deps, alias, actions, out.repairs.length > 0 ? locator : undefined) : undefined;
    // Alerts on what this write created (a replay's 409 or a repair never alerts again), and on what
    // an earlier attempt stored but never got to alert; enqueued before the links are confirmed, so a
    // crash in between leaves them pending and the retry alerts them (the alert queue dedupes by record).
    const created = new Set(stats?.createdIds ?? []);
    const toAlert = creates.filter((c) => created.has(c.id) || unconfirmed.has(c.id));
    if (deps.alerts && toAlert.length > 0) await deps.alerts.enqueue(job.cluster, toAlert);
    // Stored, duplicate or dead-lettered (the dead letter keeps its links): the pending links are done with.
    await confirmChain(deps.redis, deps.prefix, job.cluster, creates.map((c) => c.id));
    if (!stats) return;
    result.created += stats.created;
    result.duplicates += stats.duplicates;
    result.repaired += stats.updated;
    deps.metrics?.records.inc({ result: 'created' }, stats.created);
    deps.metrics?.records.inc({ result: 'duplicate' }, stats.duplicates);
    deps.metrics?.records.inc({ result: 'repaired' }, stats.updated);
    deps.metrics?.bulkRetries.inc(stats.retries);
    // A repair of a record that is not in Elasticsearch yet (its own job crashed before writing and
    // will be retried against the repaired history) is not an error worth a dead letter.
    const rejected = stats.rejected.filter((r) => !(r.action.kind === 'update' && r.status === 404));
    await deadLetter(deps, job.cluster, rejected);
    result.deadLettered += rejected.length;
  });
}

async function timedBulk(deps: BatchDeps, alias: string, actions: BulkAction[], locator: RecordLocator | undefined): ReturnType<typeof bulkWrite> {
  const end = deps.metrics?.bulkSeconds.startTimer();
  try {
    return await bulkWrite(deps.es, alias, actions, deps.refresh ?? false, locator);
  } catch (err) {
    deps.metrics?.bulkErrors.inc({ kind: 'request_failed' });
    throw err;
  } finally {
    end?.();
  }
}
