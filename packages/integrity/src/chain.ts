import { createHash } from 'node:crypto';
import { canonicalJson, rememberCanonical } from '@crtrail/audit';

/** `prev_hash` of a cluster's first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** Bumped if the set of chained fields ever changes; verifiers refuse versions they do not know. */
const CHAIN_VERSION = 1;

/** `crtrail.integrity` as stored on every record. */
export interface Integrity {
  seq: number;
  prev_hash: string;
  hash: string;
}

/** The parts of a stored record the chain reads (the rest of the document is opaque to it). */
export interface ChainedRecord {
  '@timestamp'?: unknown;
  event?: { id?: unknown; action?: unknown; outcome?: unknown };
  orchestrator?: { cluster?: { name?: unknown } };
  kubernetes?: { audit?: unknown };
  crtrail?: {
    actor?: unknown;
    object?: unknown;
    change?: { state_hash?: unknown; dry_run?: unknown };
    integrity?: Partial<Integrity>;
  };
}

/**
 * What the chain covers: the whole record as written, except what may legitimately change later.
 * Left out: `crtrail.change` other than `state_hash` (the hash of the stored state the write left)
 * and `dry_run`, because the change engine rewrites a record's ops, kind, criticality and drift in
 * place when a late event turns out to be its true predecessor — `verify` checks the ops against
 * the chained response body instead (see `checkOps`); the operational times `event.ingested` and
 * `crtrail.received_at`; and `crtrail.integrity` itself. Everything else — who (user, groups,
 * impersonation, actor), what (verb, object, request and response bodies), when, from where,
 * outcome — is chained, in every place the record shows it.
 */
export function chainedFields(record: ChainedRecord, cluster: string, seq: number): Record<string, unknown> {
  const { crtrail, event, ...rest } = record as ChainedRecord & Record<string, unknown>;
  const {
    change,
    integrity: _integrity,
    received_at: _received,
    ...crtrailRest
  } = (crtrail ?? {}) as Record<string, unknown> & {
    change?: { state_hash?: unknown; dry_run?: unknown };
  };
  const { ingested: _ingested, ...eventRest } = (event ?? {}) as Record<string, unknown>;
  return {
    ...rest,
    v: CHAIN_VERSION,
    cluster,
    seq,
    event: eventRest,
    crtrail: { ...crtrailRest, change: { state_hash: change?.state_hash, dry_run: change?.dry_run } },
  };
}

/** `hash = sha256(prev_hash ‖ canonical JSON (RFC 8785) of the chained fields)`, hex. */
export function recordHash(prevHash: string, record: ChainedRecord, cluster: string, seq: number): string {
  return hashOfParts(prevHash, chainParts(record, cluster), seq);
}

/**
 * The canonical JSON of every chained field but `seq`, by key, in key order: what a worker computes
 * once per record even when its compare-and-set on the chain head has to be retried with another
 * seq (only the `seq` member and the hash are then recomputed, not the 20 KB bodies).
 */
export type ChainParts = Array<[key: string, canonical: string]>;

export function chainParts(
  record: ChainedRecord,
  cluster: string,
  /** Sealing a record just built (never when verifying): its bodies' canonical texts are remembered and reused. */
  reuse = false,
): ChainParts {
  // The members of `chainedFields(record, cluster, 0)` but `seq`, built without its object spreads
  // (one per record, a measurable part of sealing): the record's own members but `crtrail` and
  // `event` (and those it overrides), then `v`, `cluster` and the two rebuilt ones.
  const own = record as Record<string, unknown>;
  const fields: Array<[string, unknown, boolean]> = [];
  for (const k of Object.keys(own)) if (!CHAIN_OWN_EXCLUDED.has(k)) fields.push([k, own[k], true]);
  const crtrail = without(record.crtrail, CRTRAIL_EXCLUDED);
  const change = record.crtrail?.change;
  crtrail.change = { state_hash: change?.state_hash, dry_run: change?.dry_run };
  fields.push(
    ['v', CHAIN_VERSION, false],
    ['cluster', cluster, false],
    ['event', without(record.event, EVENT_EXCLUDED), false],
    ['crtrail', crtrail, false],
  );
  fields.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const parts: ChainParts = [];
  for (const [k, v, isOwn] of fields) {
    // The record's own members (its bodies, in `kubernetes`) are remembered: the document sent
    // to Elasticsearch reuses their text (records are not mutated there once sealed).
    const c = reuse && isOwn && v !== null && typeof v === 'object' ? rememberCanonical(v) : canonicalJson(v);
    if (c !== undefined) parts.push([k, c]);
  }
  return parts;
}

/** Record members `chainedFields` replaces or leaves out (`seq` is no part: it is placed by `hashOfParts`). */
const CHAIN_OWN_EXCLUDED = new Set(['crtrail', 'event', 'v', 'cluster', 'seq']);
const CRTRAIL_EXCLUDED = new Set(['change', 'integrity', 'received_at']);
const EVENT_EXCLUDED = new Set(['ingested']);

/** A copy of `value`'s own members but `excluded` (`{}` for a missing value), as a rest pattern makes it. */
function without(value: unknown, excluded: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (value === null || value === undefined) return out;
  for (const k of Object.keys(value)) {
    if (excluded.has(k)) continue;
    const v = (value as Record<string, unknown>)[k];
    // A stored record is data: a `__proto__` member is a member, as a rest pattern copies it.
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: v, writable: true, enumerable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}

/** A part at least this long is hashed on its own instead of being copied into the text around it. */
const HASH_ON_ITS_OWN = 1024;

/**
 * Assembles `{…,"seq":n,…}` exactly as RFC 8785 orders it and hashes it after `prev_hash`. The text
 * is fed to the hash piece by piece, never built whole: the big parts (the 10–20 KB bodies) were
 * copied once into a joined string only to be hashed (~20 KB of garbage per record); the small
 * members between them are joined, as one hash update per member costs more than the copy. The
 * UTF-8 of a concatenation is the concatenation of the UTF-8 of its whole strings, so the hash is
 * the same.
 */
export function hashOfParts(prevHash: string, parts: ChainParts, seq: number): string {
  const hash = createHash('sha256').update(prevHash);
  let text = '{';
  let placed = false;
  let first = true;
  const member = (k: string, v: string): void => {
    text += `${first ? '' : ','}${JSON.stringify(k)}:`;
    first = false;
    if (v.length < HASH_ON_ITS_OWN) text += v;
    else {
      hash.update(text).update(v);
      text = '';
    }
  };
  for (const [k, v] of parts) {
    if (!placed && 'seq' < k) {
      member('seq', String(seq));
      placed = true;
    }
    member(k, v);
  }
  if (!placed) member('seq', String(seq));
  return hash.update(`${text}}`).digest('hex');
}

export function clusterOf(record: ChainedRecord): string | undefined {
  const name = record.orchestrator?.cluster?.name;
  return typeof name === 'string' ? name : undefined;
}

/** The chain head of one cluster: its last seq and hash (0 / genesis before the first record). */
export interface ChainHead {
  seq: number;
  hash: string;
}

/**
 * Links records to a chain, in order: each gets the next seq, the previous hash and its own hash.
 * Mutates the records (their `crtrail.integrity`), returns the new head.
 */
export function sealRecords(
  head: ChainHead,
  cluster: string,
  records: ChainedRecord[],
  parts?: ChainParts[],
): ChainHead {
  let { seq, hash } = head;
  records.forEach((r, i) => {
    seq += 1;
    const own = hashOfParts(hash, parts?.[i] ?? chainParts(r, cluster), seq);
    r.crtrail ??= {};
    r.crtrail.integrity = { seq, prev_hash: hash, hash: own };
    hash = own;
  });
  return { seq, hash };
}
