import type { RedisClient } from '@crtrail/queue';
import { luaScript } from './lua.js';
import { stringifyReusing } from '@crtrail/audit';
import { compareVersions, type Dependent, type History, type Version } from '@crtrail/diff';

/**
 * Object histories in Redis, one hash per object: a field per version (`v:<recordId>`) and per
 * dependent (`d:<recordId>`), plus `rev`, bumped on every save. A batch writes only the versions it
 * made or changed and deletes the ones that left the window, instead of rewriting the whole history
 * (8 × a 20 KB custom resource for a hot object) as one string; and a worker that still holds the
 * history it last saved (same `rev`) reads back a number instead of the history. Both were among
 * the worker's top costs, and the 160 KB strings went straight to V8's large-object space, which
 * only a full GC frees (worker RSS).
 */

/**
 * A version's text, written once: only versions a save adds are written. Its stored state's
 * members were serialized for its state hash already.
 */
const textOf = (value: object): string => stringifyReusing(value as Record<string, unknown>);

interface Cached {
  rev: number;
  history: History;
  bytes: number;
}

/** JSON size of each version and dependent read or written, for the cache's budget. */
const sizes = new WeakMap<object, number>();
/** Counted for an entry whose size is not known (a baseline import, a test's history). */
const UNKNOWN_ENTRY_BYTES = 16 * 1024;

/**
 * The histories this worker last read or saved, by key and `rev`, the least recently read or
 * saved dropped first. Bounded by the JSON size of what it holds (the parsed heap is ~2–3× that), not by a count:
 * a miss reads an object's whole window (8 versions) back from Redis and parses it, the worker's
 * largest cost after the engine itself, so the hot set should fit (the bench's 80 hot objects take
 * ~7 MB) while a few huge objects cannot crowd the heap. 16 MB, not the 32 MB it was: with 50 KB
 * objects (the bench's big-batch case) the cache filled and its parsed heap alone pushed the worker's
 * peak RSS from 316 to 382 MB, while the bench's hot set needs 7 MB.
 */
export class HistoryCache {
  private readonly entries = new Map<string, Cached>();
  private bytes = 0;
  constructor(private readonly maxBytes = 16 * 1024 * 1024) {}

  get(key: string): Cached | undefined {
    return this.entries.get(key);
  }

  remember(key: string, rev: number, history: History): void {
    this.forget(key);
    let bytes = 0;
    for (const entry of [...history.versions, ...(history.dependents ?? [])])
      bytes += sizes.get(entry) ?? UNKNOWN_ENTRY_BYTES;
    this.entries.set(key, { rev, history, bytes });
    this.bytes += bytes;
    for (const oldest of this.entries.keys()) {
      if (this.bytes <= this.maxBytes || oldest === key) break;
      this.forget(oldest);
    }
  }

  private forget(key: string): void {
    const cached = this.entries.get(key);
    if (!cached) return;
    this.entries.delete(key);
    this.bytes -= cached.bytes;
  }
}

/** Reads histories, or only confirms a cached one is current (see the script's header). */
const load = luaScript('load-histories-n.lua');

type LoadReply = Array<[] | [0] | [-1, string] | [number, ...string[]]>;

export interface LoadedHistory {
  history: History | undefined;
  rev: number;
  /** Stored as one string by an earlier version: rewritten as a hash on the next save. */
  legacy: boolean;
}

function sized<T extends object>(entry: T, text: string): T {
  sizes.set(entry, text.length);
  return entry;
}

function fromFields(flat: string[]): History {
  const versions: Version[] = [];
  const dependents: Dependent[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i]!;
    const text = flat[i + 1]!;
    if (field.startsWith('v:')) versions.push(sized(JSON.parse(text) as Version, text));
    else if (field.startsWith('d:')) dependents.push(sized(JSON.parse(text) as Dependent, text));
  }
  // Hash fields have no order; the engine keeps both lists sorted by the write order of the object.
  versions.sort(compareVersions);
  dependents.sort((a, b) => compareVersions({ ...a, deleted: false }, { ...b, deleted: false }));
  return dependents.length > 0 ? { versions, dependents } : { versions };
}

/** Reads the histories of `keys` in one round trip, reusing cached ones Redis confirms are current. */
export async function loadHistories(redis: RedisClient, keys: string[], cache: HistoryCache): Promise<LoadedHistory[]> {
  if (keys.length === 0) return [];
  // Taken now: concurrent jobs may evict these entries from the bounded cache while the reply is
  // on its way, and a "yours is current" answer must still find the history it confirmed.
  const cached = keys.map((k) => cache.get(k));
  const cachedRevs = cached.map((c) => String(c?.rev ?? -2));
  const reply = (await load(redis, keys, cachedRevs)) as LoadReply;
  return keys.map((key, i) => {
    const r = reply[i]!;
    if (r.length === 0) return { history: undefined, rev: 0, legacy: false };
    if (r[0] === -1) return { history: JSON.parse(r[1] as string) as History, rev: 0, legacy: true };
    if (r[0] === 0 && r.length === 1) return { history: cached[i]!.history, rev: cached[i]!.rev, legacy: false };
    const rev = Number(r[0]);
    const history = fromFields(r.slice(1) as string[]);
    cache.remember(key, rev, history);
    return { history, rev, legacy: false };
  });
}

export interface HistoryWrite {
  key: string;
  before: LoadedHistory;
  after: History;
}

/**
 * How long a history is kept in Redis after its last write (CRTRAIL_STATE_TTL_DAYS,
 * CRTRAIL_STATE_DELETED_TTL_DAYS). Unset: forever. An expired history is simply absent: the object's
 * next write continues from its newest state stored in Elasticsearch, as after a Redis data loss.
 */
export interface HistoryRetention {
  /** Any history not written for this long expires. */
  ttlSeconds?: number;
  /** A history whose newest version is a delete expires this long after it (usually shorter). */
  deletedTtlSeconds?: number;
}

/** The retention of CRTRAIL_STATE_TTL_DAYS / CRTRAIL_STATE_DELETED_TTL_DAYS (0: off). */
export function historyRetention(ttlDays: number, deletedTtlDays: number): HistoryRetention {
  const s = (days: number): number | undefined => (days > 0 ? Math.max(1, Math.round(days * 86_400)) : undefined);
  const ttlSeconds = s(ttlDays);
  const deletedTtlSeconds = s(deletedTtlDays);
  return { ...(ttlSeconds ? { ttlSeconds } : {}), ...(deletedTtlSeconds ? { deletedTtlSeconds } : {}) };
}

/** The expiry a history gets at this save (undefined: none). */
function expiryOf(after: History, retention: HistoryRetention): number | undefined {
  const newest = after.versions[after.versions.length - 1];
  const deletedTtl = newest?.deleted === true ? retention.deletedTtlSeconds : undefined;
  if (deletedTtl === undefined) return retention.ttlSeconds;
  return retention.ttlSeconds === undefined ? deletedTtl : Math.min(deletedTtl, retention.ttlSeconds);
}

/** A history save built and not yet sent: {@link PreparedHistorySave.exec} sends it. */
export interface PreparedHistorySave {
  /** Sends the MULTI; once Redis has applied it, the cache holds the saved histories. */
  exec(): Promise<void>;
}

/**
 * Builds the save of new histories without sending anything (ioredis queues a MULTI's commands
 * until `exec`): the worker builds it while its records' bulk request is in flight, where its
 * main thread would otherwise wait (~3.6 ms per unit of ~80 changes), and sends it only once the
 * records are stored. What is saved, and when, is {@link saveHistories}'s.
 */
export function prepareHistorySave(
  redis: RedisClient,
  writes: HistoryWrite[],
  cache: HistoryCache,
  retention: HistoryRetention = {},
): PreparedHistorySave {
  if (writes.length === 0) return { exec: async () => {} };
  const tx = redis.multi();
  const remembered: Array<[string, number, History]> = [];
  for (const { key, before, after } of writes) {
    const old = before.legacy ? undefined : before.history;
    const oldEntries = new Set<object>([...(old?.versions ?? []), ...(old?.dependents ?? [])]);
    const set: string[] = [];
    const keep = new Set<string>();
    for (const [prefix, list] of [
      ['v:', after.versions],
      ['d:', after.dependents ?? []],
    ] as const) {
      for (const entry of list) {
        const field = `${prefix}${entry.recordId}`;
        keep.add(field);
        if (oldEntries.has(entry)) continue;
        const text = textOf(entry);
        sized(entry, text);
        set.push(field, text);
      }
    }
    const gone: string[] = [];
    for (const [prefix, list] of [
      ['v:', old?.versions ?? []],
      ['d:', old?.dependents ?? []],
    ] as const) {
      for (const entry of list) if (!keep.has(`${prefix}${entry.recordId}`)) gone.push(`${prefix}${entry.recordId}`);
    }
    if (before.legacy) tx.del(key);
    if (gone.length > 0) tx.hdel(key, ...gone);
    const rev = before.rev + 1;
    tx.hset(key, ...set, 'rev', String(rev));
    const expiry = expiryOf(after, retention);
    if (expiry !== undefined) tx.expire(key, expiry);
    // Re-created after its delete: kept again (no TTL for live objects, only for deleted ones).
    else if (retention.deletedTtlSeconds !== undefined) tx.persist(key);
    remembered.push([key, rev, after]);
  }
  return {
    async exec() {
      const results = await tx.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed)
        throw new Error(`saving object histories failed: ${failed?.[0]?.message ?? 'transaction aborted'}`);
      // Only now: a cached rev Redis does not hold could otherwise match another worker's later save.
      for (const [key, rev, after] of remembered) cache.remember(key, rev, after);
    },
  };
}

/**
 * Saves new histories (the caller holds the objects' locks): only versions and dependents that
 * are new or changed (a new object: histories are immutable, a changed entry is a new object) are
 * written, the ones gone from the window deleted, `rev` bumped and the expiry of `retention` renewed
 * — in one MULTI.
 */
export async function saveHistories(
  redis: RedisClient,
  writes: HistoryWrite[],
  cache: HistoryCache,
  retention: HistoryRetention = {},
): Promise<void> {
  await prepareHistorySave(redis, writes, cache, retention).exec();
}
