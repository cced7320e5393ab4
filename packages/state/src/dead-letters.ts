import type { RedisClient } from '@crtrail/queue';
import type { AuditEvent } from '@crtrail/audit';
import { keysFor } from './keys.js';

/**
 * The write Elasticsearch refused, kept verbatim so a replay sends it again: the shape of
 * `BulkAction` in @crtrail/store, restated here because this package holds Redis state only.
 */
export type DeadLetterAction =
  | { kind: 'create'; id: string; doc: Record<string, unknown> }
  | { kind: 'update'; id: string; doc: Record<string, unknown>; index?: string };

/** One write Elasticsearch refused for good (a `BulkRejection` of @crtrail/store). */
export interface RefusedWrite {
  action: DeadLetterAction;
  status: number;
  reason: string;
}

/** A dead letter: the record Elasticsearch refused for good, why, and when. Its event was redacted before. */
export interface DeadLetter {
  /** Absent in entries written before event dead letters existed. */
  type?: 'record';
  id: string;
  at: string;
  cluster: string;
  status: number;
  reason: string;
  action: DeadLetterAction;
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
export async function pushDeadLetters(
  redis: RedisClient,
  prefix: string,
  cluster: string,
  rejected: RefusedWrite[],
): Promise<void> {
  if (rejected.length === 0) return;
  const at = new Date().toISOString();
  await redis.rpush(
    keysFor(redis, prefix).dlq,
    ...rejected.map((r) =>
      JSON.stringify({
        type: 'record',
        id: r.action.id,
        at,
        cluster,
        status: r.status,
        reason: r.reason,
        action: r.action,
      } satisfies DeadLetter),
    ),
  );
}

/** Appends events whose processing threw to the dead-letter list, each with its reason. */
export async function pushEventDeadLetters(
  redis: RedisClient,
  prefix: string,
  cluster: string,
  poisoned: Array<{ event: AuditEvent; reason: string }>,
): Promise<void> {
  if (poisoned.length === 0) return;
  const at = new Date().toISOString();
  await redis.rpush(
    keysFor(redis, prefix).dlq,
    ...poisoned.map(({ event, reason }) =>
      JSON.stringify({
        type: 'event',
        id: `event:${cluster}:${event.auditID}`,
        at,
        cluster,
        reason,
        event,
      } satisfies EventDeadLetter),
    ),
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

/** One dead letter as Redis holds it: `raw` is its exact text, which removing or replacing it matches. */
export interface StoredDlqEntry {
  raw: string;
  entry: DlqEntry;
}

/** Every entry of the dead-letter list with its stored text, oldest first (for a replay). */
export async function storedDlqEntries(redis: RedisClient, prefix: string): Promise<StoredDlqEntry[]> {
  const raw = await redis.lrange(keysFor(redis, prefix).dlq, 0, -1);
  return raw.map((r) => ({ raw: r, entry: JSON.parse(r) as DlqEntry }));
}

/** Takes one entry (by its exact stored text) off the dead-letter list. */
export async function removeDlqEntry(redis: RedisClient, prefix: string, raw: string): Promise<void> {
  await redis.lrem(keysFor(redis, prefix).dlq, 1, raw);
}

/** Replaces one entry (by its exact stored text) in place, so the order of the list is kept; gone already: nothing. */
export async function replaceDlqEntry(
  redis: RedisClient,
  prefix: string,
  raw: string,
  updated: DlqEntry,
): Promise<void> {
  const key = keysFor(redis, prefix).dlq;
  const pos = await redis.lpos(key, raw);
  if (pos !== null) await redis.lset(key, pos, JSON.stringify(updated));
}
