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
  const fields = chainedFields(record, cluster, 0);
  delete fields.seq;
  const own = record as Record<string, unknown>;
  return Object.keys(fields)
    .sort()
    .flatMap((k) => {
      const v = fields[k];
      // The record's own members (its bodies, in `kubernetes`) are remembered: the document sent
      // to Elasticsearch reuses their text (records are not mutated there once sealed).
      const c = reuse && own[k] === v && v !== null && typeof v === 'object' ? rememberCanonical(v) : canonicalJson(v);
      return c === undefined ? [] : [[k, c] as [string, string]];
    });
}

/** Assembles `{…,"seq":n,…}` exactly as RFC 8785 orders it and hashes it after `prev_hash`. */
export function hashOfParts(prevHash: string, parts: ChainParts, seq: number): string {
  let json = '{';
  let placed = false;
  let first = true;
  const member = (k: string, v: string): void => {
    json += `${first ? '' : ','}${JSON.stringify(k)}:${v}`;
    first = false;
  };
  for (const [k, v] of parts) {
    if (!placed && 'seq' < k) {
      member('seq', String(seq));
      placed = true;
    }
    member(k, v);
  }
  if (!placed) member('seq', String(seq));
  return createHash('sha256').update(prevHash).update(`${json}}`).digest('hex');
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
