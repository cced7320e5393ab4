import type { RedisClient } from '@crtrail/queue';
import {
  GENESIS_HASH,
  chainParts,
  sealRecords,
  type ChainHead,
  type ChainedRecord,
  type Integrity,
} from '@crtrail/integrity';
import { keysFor } from './keys.js';
import { luaScript } from './lua.js';

/*
 * A cluster's chain in Redis: its head (`keysFor(redis, prefix).chainHead`, a hash with `seq` and `hash`) and
 * the links handed out but not yet confirmed in Elasticsearch (`chainPending`, record id → integrity
 * JSON). A retried job finds its records there and reuses their links, so a crash between sealing and
 * writing never leaves a gap; entries are dropped once the bulk write has answered for them.
 */

/**
 * Compare-and-set of the head plus the new pending links in one step: it succeeds only if the head
 * is still the one the links were computed from. Optimistic rather than a lock, because a worker's
 * jobs share one Redis connection (WATCH would be per connection) and the critical section is just
 * a few hashes: under contention the loser re-reads and recomputes.
 */
const advance = luaScript('chain-advance-2.lua');

const MAX_ATTEMPTS = 1_000;

/**
 * This process's seals of one chain, one after the other. The compare-and-set keeps any number of
 * processes right, but two of a worker's own units sealing the same cluster at once made one of them
 * lose, re-read the head and hash its records again; queued here, only other processes can make a
 * seal retry.
 */
const sealing = new Map<string, Promise<void>>();

async function oneAtATime(key: string, fn: () => Promise<void>): Promise<void> {
  const before = sealing.get(key);
  const mine = (before ?? Promise.resolve()).then(fn);
  // Queued behind this seal whether it succeeds or not; the caller sees its own outcome.
  const settled = mine.then(
    () => undefined,
    () => undefined,
  );
  sealing.set(key, settled);
  try {
    await mine;
  } finally {
    if (sealing.get(key) === settled) sealing.delete(key);
  }
}

export interface SealInput {
  id: string;
  doc: ChainedRecord;
}

/** The `crtrail.integrity` that `sealRecords` has just set on a record. */
function sealedIntegrity(input: SealInput): Partial<Integrity> {
  const integrity = input.doc.crtrail?.integrity;
  if (!integrity) throw new Error(`record ${input.id} has no crtrail.integrity after sealing`);
  return integrity;
}

/**
 * Gives each new record of `cluster` the next seq, its predecessor's hash and its own hash
 * (mutating `doc.crtrail.integrity`), atomically across any number of workers. Records already
 * sealed by an earlier attempt of the same job get the same links back.
 */
export async function sealChain(
  redis: RedisClient,
  prefix: string,
  cluster: string,
  inputs: SealInput[],
  /** Where the chain ends in the store, for when Redis has lost the head (a restart without persistence). */
  recoverHead?: () => Promise<ChainHead | undefined>,
): Promise<void> {
  if (inputs.length === 0) return;
  const headKey = keysFor(redis, prefix).chainHead(cluster);
  await oneAtATime(headKey, () => seal(redis, prefix, cluster, headKey, inputs, recoverHead));
}

async function seal(
  redis: RedisClient,
  prefix: string,
  cluster: string,
  headKey: string,
  inputs: SealInput[],
  recoverHead: (() => Promise<ChainHead | undefined>) | undefined,
): Promise<void> {
  const pendingKey = keysFor(redis, prefix).chainPending(cluster);
  const earlier = await redis.hmget(pendingKey, ...inputs.map((i) => i.id));
  const fresh: SealInput[] = [];
  inputs.forEach((input, i) => {
    const text = earlier[i];
    if (text) {
      input.doc.crtrail ??= {};
      input.doc.crtrail.integrity = JSON.parse(text) as Integrity;
    } else {
      fresh.push(input);
    }
  });
  if (fresh.length === 0) return;
  const parts = fresh.map((f) => chainParts(f.doc, cluster, true));
  // Asked once per call: a retry while Redis still has no head would only repeat the same search.
  let recovered: Promise<ChainHead | undefined> | undefined;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const [seqText, hash] = await redis.hmget(headKey, 'seq', 'hash');
    let head: ChainHead = { seq: Number(seqText ?? 0), hash: hash ?? GENESIS_HASH };
    // No head in Redis but records in the store: continue the stored chain rather than start a
    // second one at seq 1. The compare-and-set still expects "no head", so if another worker
    // recovered first, this attempt fails and re-reads its head.
    if (seqText === null && recoverHead) head = (await (recovered ??= recoverHead())) ?? head;
    const next = sealRecords(
      head,
      cluster,
      fresh.map((f) => f.doc),
      parts,
    );
    const links = fresh.flatMap((f) => [f.id, JSON.stringify(sealedIntegrity(f))]);
    // Compared with what Redis held (no head at all after a recovery), not with the recovered seq.
    const ok = await advance(redis, [headKey, pendingKey], [seqText ?? '0', next.seq, next.hash, ...links]);
    if (ok === 1) return;
  }
  throw new Error(`could not advance the hash chain of cluster ${cluster}: too much contention`);
}

/** Which of `ids` still have a pending link: sealed by an attempt whose write was never confirmed. */
export async function pendingLinks(
  redis: RedisClient,
  prefix: string,
  cluster: string,
  ids: string[],
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const links = await redis.hmget(keysFor(redis, prefix).chainPending(cluster), ...ids);
  return new Set(ids.filter((_, i) => links[i] !== null));
}

/** The records' writes have been answered (stored, duplicate or dead-lettered with their links): forget the pending links. */
export async function confirmChain(redis: RedisClient, prefix: string, cluster: string, ids: string[]): Promise<void> {
  if (ids.length > 0) await redis.hdel(keysFor(redis, prefix).chainPending(cluster), ...ids);
}

/** The stored head of a cluster's chain (seq 0 before the first record). */
export async function chainHead(
  redis: RedisClient,
  prefix: string,
  cluster: string,
): Promise<ChainHead & { pending: number }> {
  const [[, head], [, pending]] = (await redis
    .multi()
    .hmget(keysFor(redis, prefix).chainHead(cluster), 'seq', 'hash')
    .hlen(keysFor(redis, prefix).chainPending(cluster))
    .exec()) as [[null, [string | null, string | null]], [null, number]];
  return { seq: Number(head[0] ?? 0), hash: head[1] ?? GENESIS_HASH, pending: pending };
}
