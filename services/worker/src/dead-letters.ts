import type { Client } from '@elastic/elasticsearch';
import type { Redis } from 'ioredis';
import { dlqKey } from '@crtrail/queue';
import { bulkWrite, indexNames, RecordLocator, type BulkAction, type BulkRejection } from '@crtrail/store';

/** A dead letter: the record Elasticsearch refused for good, why, and when. Its event was redacted before. */
export interface DeadLetter {
  id: string;
  at: string;
  cluster: string;
  status: number;
  reason: string;
  action: BulkAction;
  /** Re-drives tried so far. */
  replays?: number;
}

export function deadLetterEntries(cluster: string, rejected: BulkRejection[], at = new Date().toISOString()): string[] {
  return rejected.map((r) => JSON.stringify({ id: r.action.id, at, cluster, status: r.status, reason: r.reason, action: r.action } satisfies DeadLetter));
}

/** Appends refused records to the dead-letter list (`<prefix>:dlq`): never dropped. */
export async function pushDeadLetters(redis: Redis, prefix: string, cluster: string, rejected: BulkRejection[]): Promise<void> {
  if (rejected.length === 0) return;
  await redis.rpush(dlqKey(prefix), ...deadLetterEntries(cluster, rejected));
}

export async function listDeadLetters(redis: Redis, prefix: string): Promise<DeadLetter[]> {
  const raw = await redis.lrange(dlqKey(prefix), 0, -1);
  return raw.map((r) => JSON.parse(r) as DeadLetter);
}

export interface ReplayResult {
  tried: number;
  indexed: number;
  duplicates: number;
  stillFailing: Array<{ id: string; reason: string }>;
}

/**
 * Re-drives dead letters (all, or the one with `id`) after a fix (mapping, size limit). An entry
 * leaves the list only once Elasticsearch took it (or already had it); one still refused stays,
 * with its new reason.
 */
export async function replayDeadLetters(redis: Redis, es: Client, prefix: string, id?: string): Promise<ReplayResult> {
  const key = dlqKey(prefix);
  const raw = await redis.lrange(key, 0, -1);
  const chosen = raw.filter((r) => id === undefined || (JSON.parse(r) as DeadLetter).id === id);
  const result: ReplayResult = { tried: chosen.length, indexed: 0, duplicates: 0, stillFailing: [] };
  const alias = indexNames(prefix).alias;
  const locator = new RecordLocator(es, alias);
  for (const entry of chosen) {
    const letter = JSON.parse(entry) as DeadLetter;
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
  return result;
}
