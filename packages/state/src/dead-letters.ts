import type { Client } from '@elastic/elasticsearch';
import type { RedisClient } from '@crtrail/queue';
import type { AuditEvent } from '@crtrail/audit';
import { createBatchQueue, JOB_NAME, type BatchJob } from '@crtrail/queue';
import { bulkWrite, indexNames, RecordLocator, type BulkAction, type BulkRejection } from '@crtrail/store';
import { keysFor } from './keys.js';

/** A dead letter: the record Elasticsearch refused for good, why, and when. Its event was redacted before. */
export interface DeadLetter {
  /** Absent in entries written before event dead letters existed. */
  type?: 'record';
  id: string;
  at: string;
  cluster: string;
  status: number;
  reason: string;
  action: BulkAction;
  /** Re-drives tried so far. */
  replays?: number;
}

/**
 * An event whose processing threw (a body the change engine or enrichment chokes on): set aside
 * alone, so the rest of its batch is indexed and the job is not retried for ~1 h in vain. Redacted
 * already. `dlq replay` enqueues it again as a job of its own (after the fix is deployed).
 */
export interface EventDeadLetter {
  type: 'event';
  id: string;
  at: string;
  cluster: string;
  reason: string;
  event: AuditEvent;
  replays?: number;
}

/** One entry of the dead-letter list. */
export type DlqEntry = DeadLetter | EventDeadLetter;

/** Appends refused records to the dead-letter list (`<prefix>:dlq`): never dropped. */
export async function pushDeadLetters(redis: RedisClient, prefix: string, cluster: string, rejected: BulkRejection[]): Promise<void> {
  if (rejected.length === 0) return;
  const at = new Date().toISOString();
  await redis.rpush(
    keysFor(redis, prefix).dlq,
    ...rejected.map((r) => JSON.stringify({ type: 'record', id: r.action.id, at, cluster, status: r.status, reason: r.reason, action: r.action } satisfies DeadLetter)),
  );
}

/** Appends events whose processing threw to the dead-letter list, each with its reason. */
export async function pushEventDeadLetters(redis: RedisClient, prefix: string, cluster: string, poisoned: Array<{ event: AuditEvent; reason: string }>): Promise<void> {
  if (poisoned.length === 0) return;
  const at = new Date().toISOString();
  await redis.rpush(
    keysFor(redis, prefix).dlq,
    ...poisoned.map(({ event, reason }) => JSON.stringify({ type: 'event', id: `event:${cluster}:${event.auditID}`, at, cluster, reason, event } satisfies EventDeadLetter)),
  );
}

/** Every entry of the dead-letter list: refused records and events whose processing threw. */
export async function listDlqEntries(redis: RedisClient, prefix: string): Promise<DlqEntry[]> {
  const raw = await redis.lrange(keysFor(redis, prefix).dlq, 0, -1);
  return raw.map((r) => JSON.parse(r) as DlqEntry);
}

/** The refused records of the dead-letter list (they hold their chain links). */
export async function listDeadLetters(redis: RedisClient, prefix: string): Promise<DeadLetter[]> {
  return (await listDlqEntries(redis, prefix)).filter((e): e is DeadLetter => e.type !== 'event');
}

export interface ReplayResult {
  tried: number;
  indexed: number;
  duplicates: number;
  /** Event dead letters enqueued again as jobs (the worker processes them like any batch). */
  requeued: number;
  stillFailing: Array<{ id: string; reason: string }>;
}

/**
 * Re-drives dead letters (all, or the one with `id`) after a fix (mapping, size limit, a bug). A
 * refused record is written again; it leaves the list only once Elasticsearch took it (or already
 * had it), one still refused stays with its new reason. An event is enqueued again as a job of its
 * own and leaves the list (should it fail again, it comes back as a new entry).
 */
export async function replayDeadLetters(redis: RedisClient, es: Client, prefix: string, id?: string): Promise<ReplayResult> {
  const key = keysFor(redis, prefix).dlq;
  const raw = await redis.lrange(key, 0, -1);
  const chosen = raw.filter((r) => id === undefined || (JSON.parse(r) as DlqEntry).id === id);
  const result: ReplayResult = { tried: chosen.length, indexed: 0, duplicates: 0, requeued: 0, stillFailing: [] };
  const alias = indexNames(prefix).alias;
  const locator = new RecordLocator(es, alias);
  const queue = chosen.some((e) => (JSON.parse(e) as DlqEntry).type === 'event') ? createBatchQueue(prefix, redis) : undefined;
  try {
    for (const entry of chosen) {
      const letter = JSON.parse(entry) as DlqEntry;
      if (letter.type === 'event') {
        await queue!.add(JOB_NAME, { cluster: letter.cluster, receivedAt: Date.now(), events: [letter.event] } satisfies BatchJob);
        await redis.lrem(key, 1, entry);
        result.requeued++;
        continue;
      }
      const stats = await bulkWrite(es, alias, [letter.action], 'wait_for', locator);
      if (stats.rejected.length === 0) {
        result.indexed += stats.created + stats.updated;
        result.duplicates += stats.duplicates;
        await redis.lrem(key, 1, entry);
      } else {
        const reason = stats.rejected[0]!.reason;
        result.stillFailing.push({ id: letter.id, reason });
        const updated = JSON.stringify({ ...letter, reason, replays: (letter.replays ?? 0) + 1, at: new Date().toISOString() });
        // Replace in place (LSET by position of the exact entry) so the order of the list is kept.
        const pos = await redis.lpos(key, entry);
        if (pos !== null) await redis.lset(key, pos, updated);
      }
    }
  } finally {
    await queue?.close();
  }
  return result;
}
