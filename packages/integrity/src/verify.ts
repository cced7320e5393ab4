import { canonicalJson, isObject, parsePointer } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';
import { GENESIS_HASH, clusterOf, recordHash, type ChainedRecord, type Integrity } from './chain.js';
import { DERIVED_FIELDS, checkDerived, configDigest, derivationConfig, type Derivation } from './derived.js';

export type ProblemKind =
  /** The record's content does not hash to its stored hash: a chained field was changed. */
  | 'edited'
  /** A seq is absent from the chain (a deleted record) or from a file (a deleted line). */
  | 'missing'
  /** A record comes before one with a lower seq. */
  | 'reordered'
  /** The same seq twice. */
  | 'duplicate'
  /** prev_hash is not the hash of the record before it: a record was replaced or the chain forked. */
  | 'broken-link'
  /** No (valid) `crtrail.integrity` at all. */
  | 'unchained'
  /** An op's new value is not what the record's own (chained) response body holds at that path, or its old value not what its predecessor's does. */
  | 'ops-mismatch';

export interface Problem {
  kind: ProblemKind;
  cluster: string;
  seq?: number;
  /** Where the record is: `line 12` in a file, `_id …` in Elasticsearch. */
  where: string;
  message: string;
}

export type SeqRange = [from: number, to: number];

/**
 * A seq range as report lines name it: `seq 7` for one record, `seqs 7–9` for several, so every
 * "missing" line (a gap inside the chain, or records missing at its end) reads the same.
 *
 * @param range - inclusive bounds, `from` ≤ `to`
 */
export function seqRangeText([from, to]: SeqRange): string {
  return from === to ? `seq ${from}` : `seqs ${from}–${to}`;
}

export interface ClusterSummary {
  count: number;
  first?: Integrity;
  last?: Integrity;
  /** Ranges of seqs between the first and last record that were not seen. */
  gaps: SeqRange[];
}

export interface VerifyOptions {
  /** Seq the walk must start at (1 when walking a whole stored chain); gaps before it are `missing`. */
  startSeq?: number;
  /** Gaps the reader knows are fine (an export's filter left them out); any other gap is `missing`. */
  allowedGaps?: (cluster: string) => SeqRange[] | undefined;
  /** Check only seqs and links, not record content (a CSV export carries the links, not the chained fields). */
  linksOnly?: boolean;
  /** Stop collecting problems after this many (the walk itself goes on, for the summary). */
  maxProblems?: number;
  /**
   * The configurations a record's derived fields (criticality, drift, actor, the ops' completeness)
   * may have been computed with; each record names its own by `crtrail.config_digest`. A record
   * whose configuration is not among them has those fields counted as not checkable.
   */
  configs?: readonly CrtrailConfig[];
  /** Derivations by the digest records name (an export's manifest carries its own, checked with `trustedDerivation`). */
  derivations?: ReadonlyMap<string, Derivation>;
  /** The walk covers the chain from its first record with no gap allowed (a stored chain from seq 1): a predecessor not met is then no filter's doing. */
  complete?: boolean;
}

function isIntegrity(v: unknown): v is Integrity {
  return (
    isObject(v) &&
    Number.isSafeInteger(v.seq) &&
    (v.seq as number) >= 1 &&
    typeof v.hash === 'string' &&
    /^[0-9a-f]{64}$/.test(v.hash) &&
    typeof v.prev_hash === 'string' &&
    /^[0-9a-f]{64}$/.test(v.prev_hash)
  );
}

function pointerGet(doc: unknown, pointer: string): { found: boolean; value?: unknown } {
  let node: unknown = doc;
  for (const key of parsePointer(pointer, { strict: false })) {
    if (Array.isArray(node)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= node.length) return { found: false };
      node = node[i];
    } else if (isObject(node) && Object.prototype.hasOwnProperty.call(node, key)) {
      node = node[key];
    } else {
      return { found: false };
    }
  }
  return { found: true, value: node };
}

/**
 * The ops are not chained (late-event repairs rewrite them in place), so they are checked against
 * what is: each added or replaced value must be the one the record's own response body — chained,
 * so trustworthy — holds at that path. Only successful, non-delete writes with a response object
 * of their own are checked; the rest have no stored state to compare with.
 */
export function checkOps(record: ChainedRecord & { crtrail?: { change?: { ops?: unknown } } }): string | undefined {
  const audit = record.kubernetes?.audit;
  if (!isObject(audit) || record.event?.outcome !== 'success') return undefined;
  if (audit.verb === 'delete' || audit.verb === 'deletecollection') return undefined;
  // A scale write answers an autoscaling/v1 Scale (replicas omitted when 0), not the object its ops describe.
  if (isObject(audit.objectRef) && audit.objectRef.subresource === 'scale') return undefined;
  const response = audit.responseObject;
  if (!isObject(response) || response.kind === 'Status') return undefined;
  const ops = (record.crtrail?.change as { ops?: unknown } | undefined)?.ops;
  if (!Array.isArray(ops)) return undefined;
  for (const op of ops) {
    if (!isObject(op) || (op.op !== 'add' && op.op !== 'replace') || typeof op.path !== 'string') continue;
    const at = pointerGet(response, op.path);
    if (!at.found) return `${op.path} is not in the stored response body`;
    if (canonicalJson(at.value) !== canonicalJson(op.new))
      return `${op.path}: new value differs from the stored response body`;
  }
  return undefined;
}

interface ClusterState extends ClusterSummary {
  allowed: SeqRange[];
}

/** How many predecessor states / waiting records the old-value check keeps (bounded memory). */
const MAX_KEPT_STATES = 1_000;
/** How many forgotten state hashes are remembered, only to say why a predecessor was not found (64 bytes each). */
const MAX_FORGOTTEN = 100_000;

/** A record waiting for its predecessor's state, which may come later in seq order (a late event). */
interface Waiting {
  resolve(predecessor: Record<string, unknown>): void;
  giveUp(): void;
}

interface ChangeView {
  ops?: unknown;
  baseline?: unknown;
  state_hash?: unknown;
  prev_state_hash?: unknown;
  dry_run?: unknown;
}

/** The record's stored state after its write, as its chained response body shows it (or undefined). */
function storedState(record: ChainedRecord): { hash: string; body: Record<string, unknown> } | undefined {
  const change = record.crtrail?.change as ChangeView | undefined;
  const audit = record.kubernetes?.audit;
  if (!change || typeof change.state_hash !== 'string' || change.dry_run === true) return undefined;
  if (record.event?.outcome !== 'success' || !isObject(audit)) return undefined;
  const body = audit.responseObject;
  if (!isObject(body) || body.kind === 'Status') return undefined;
  return { hash: change.state_hash, body };
}

/**
 * The other half of the ops check: every op's old value must be what the predecessor's stored
 * state held at that path (`add`: nothing there). The predecessor is the record whose `state_hash`
 * is this record's `prev_state_hash`. Diffs of arrays are index-wise, so a path reads the same in
 * both states.
 */
function checkOldValues(ops: unknown, predecessor: Record<string, unknown>): string | undefined {
  if (!Array.isArray(ops)) return undefined;
  for (const op of ops) {
    if (!isObject(op) || typeof op.path !== 'string') continue;
    const at = pointerGet(predecessor, op.path);
    if (op.op === 'add') {
      if (at.found) return `${op.path}: added, but its predecessor's stored state already has it`;
    } else if (op.op === 'replace' || op.op === 'remove') {
      if (!at.found) return `${op.path} is not in its predecessor's stored state`;
      if (canonicalJson(at.value) !== canonicalJson(op.old))
        return `${op.path}: old value differs from its predecessor's stored state`;
    }
  }
  return undefined;
}

/**
 * Walks records in order (per cluster by seq, as exports and the stored walk sort them), keeping
 * only each cluster's last link: constant memory whatever the length of the chain.
 */
export class ChainVerifier {
  private readonly clusters = new Map<string, ClusterState>();
  readonly problems: Problem[] = [];
  private problemCount = 0;
  /** Stored states by state_hash, and records waiting for theirs (a predecessor can come later in seq order). */
  private readonly states = new Map<string, Record<string, unknown>>();
  private readonly waiting = new Map<string, Waiting[]>();
  /** State hashes that left `states` (bounded too): a predecessor met too long ago, not a missing one. */
  private readonly forgotten = new Set<string>();
  private readonly configs = new Map<string, Derivation>();
  /** Records whose old values were checked against their predecessor's stored state. */
  oldValuesChecked = 0;
  /** Records whose old values could not be checked, by reason. */
  readonly oldValuesUncheckedBy = new Map<string, number>();
  /** Records whose derived fields were all recomputed. */
  derivedChecked = 0;
  /** Records some of whose derived fields could not be recomputed, by reason (with the fields). */
  readonly derivedUncheckedBy = new Map<string, { records: number; fields: Set<string> }>();

  constructor(private readonly options: VerifyOptions = {}) {
    for (const [digest, d] of options.derivations ?? []) this.configs.set(digest, d);
    for (const c of options.configs ?? []) this.configs.set(configDigest(c), derivationConfig(c));
  }

  get totalProblems(): number {
    return this.problemCount;
  }

  private report(p: Problem): void {
    this.problemCount++;
    if (this.problems.length < (this.options.maxProblems ?? 100)) this.problems.push(p);
  }

  /** Gaps are judged at the end: a later record may fill one (then it was a reorder, not a deletion). */
  private fill(state: ClusterState, seq: number): boolean {
    const i = state.gaps.findIndex(([a, b]) => a <= seq && seq <= b);
    if (i < 0) return false;
    const [a, b] = state.gaps[i]!;
    const rest: SeqRange[] = [];
    if (a < seq) rest.push([a, seq - 1]);
    if (seq < b) rest.push([seq + 1, b]);
    state.gaps.splice(i, 1, ...rest);
    return true;
  }

  push(record: ChainedRecord, where: string): void {
    const cluster = clusterOf(record) ?? '?';
    let state = this.clusters.get(cluster);
    if (!state) {
      state = { count: 0, gaps: [], allowed: this.options.allowedGaps?.(cluster) ?? [] };
      this.clusters.set(cluster, state);
    }
    state.count++;
    const integrity = record.crtrail?.integrity;
    if (!isIntegrity(integrity)) {
      this.report({ kind: 'unchained', cluster, where, message: 'no valid crtrail.integrity (seq, prev_hash, hash)' });
      return;
    }
    const { seq } = integrity;
    const at = `${where} (seq ${seq})`;
    if (!this.options.linksOnly) {
      if (recordHash(integrity.prev_hash, record, cluster, seq) !== integrity.hash) {
        this.report({
          kind: 'edited',
          cluster,
          seq,
          where,
          message: `${at}: content does not match its hash (edited)`,
        });
      }
      const opsProblem = checkOps(record);
      if (opsProblem) this.report({ kind: 'ops-mismatch', cluster, seq, where, message: `${at}: ${opsProblem}` });
      this.checkAgainstPredecessor(record, cluster, seq, at);
    }
    const last = state.last;
    if (!last) {
      const start = this.options.startSeq;
      if (start !== undefined && seq > start) state.gaps.push([start, seq - 1]);
      if (seq === 1 && integrity.prev_hash !== GENESIS_HASH) {
        this.report({
          kind: 'broken-link',
          cluster,
          seq,
          where,
          message: `${at}: the first record's prev_hash is not the genesis hash`,
        });
      }
      state.first = integrity;
      state.last = integrity;
      return;
    }
    if (seq === last.seq) {
      this.report({ kind: 'duplicate', cluster, seq, where, message: `${at}: seq ${seq} appears twice` });
      return;
    }
    if (seq < last.seq) {
      const filled = this.fill(state, seq);
      this.report({
        kind: filled ? 'reordered' : 'duplicate',
        cluster,
        seq,
        where,
        message: filled ? `${at}: comes after seq ${last.seq} (reordered)` : `${at}: seq ${seq} appears twice`,
      });
      return;
    }
    if (seq === last.seq + 1) {
      if (integrity.prev_hash !== last.hash) {
        this.report({
          kind: 'broken-link',
          cluster,
          seq,
          where,
          message: `${at}: prev_hash is not the hash of seq ${last.seq} (a record was replaced)`,
        });
      }
    } else {
      state.gaps.push([last.seq + 1, seq - 1]);
    }
    state.last = integrity;
  }

  private checkAgainstPredecessor(record: ChainedRecord, cluster: string, seq: number, at: string): void {
    const change = record.crtrail?.change as ChangeView | undefined;
    const own = storedState(record);
    if (own) {
      const evicted = remember(this.states, own.hash, own.body);
      if (evicted !== undefined) {
        this.forgotten.add(evicted);
        if (this.forgotten.size > MAX_FORGOTTEN) this.forgotten.delete(oldest(this.forgotten));
      }
      this.forgotten.delete(own.hash);
      for (const w of this.waiting.get(own.hash) ?? []) w.resolve(own.body);
      this.waiting.delete(own.hash);
    }
    const prev = change?.prev_state_hash;
    if (typeof prev !== 'string') {
      if (change?.baseline === 'unknown' && Array.isArray(change.ops) && change.ops.length > 0)
        this.uncheckedOld('no predecessor known when recorded (baseline unknown)');
      this.derived(record, cluster, seq, at, undefined);
      return;
    }
    const predecessor = this.states.get(prev);
    if (predecessor) {
      this.compare(change?.ops, predecessor, cluster, seq, at);
      this.derived(record, cluster, seq, at, predecessor);
      return;
    }
    const entry: Waiting = {
      resolve: (body) => {
        this.compare(change?.ops, body, cluster, seq, at);
        this.derived(record, cluster, seq, at, body);
      },
      giveUp: () => {
        this.uncheckedOld(this.missingPredecessorReason(prev));
        this.derived(record, cluster, seq, at, 'unknown');
      },
    };
    const list = this.waiting.get(prev) ?? [];
    list.push(entry);
    this.waiting.delete(prev);
    this.waiting.set(prev, list);
    // Bounded: the longest-waiting records give up first.
    if (this.waiting.size > MAX_KEPT_STATES) {
      const [key, gone] = oldest(this.waiting);
      this.waiting.delete(key);
      for (const w of gone) w.giveUp();
    }
  }

  private missingPredecessorReason(prev: string): string {
    if (this.forgotten.has(prev))
      return `predecessor more than ${MAX_KEPT_STATES} states back (its state was no longer kept)`;
    if (this.options.complete)
      return 'predecessor never stored as a record (a crtrail baseline import, or a write logged without its body)';
    return 'predecessor outside this walk (before the window, filtered out) or a crtrail baseline import';
  }

  private uncheckedOld(reason: string): void {
    this.oldValuesUncheckedBy.set(reason, (this.oldValuesUncheckedBy.get(reason) ?? 0) + 1);
  }

  private compare(ops: unknown, predecessor: Record<string, unknown>, cluster: string, seq: number, at: string): void {
    this.oldValuesChecked++;
    const problem = checkOldValues(ops, predecessor);
    if (problem) this.report({ kind: 'ops-mismatch', cluster, seq, where: at, message: `${at}: ${problem}` });
  }

  /** The derived fields, recomputed (see checkDerived); a difference is an edit, named by field. */
  private derived(
    record: ChainedRecord,
    cluster: string,
    seq: number,
    at: string,
    previous: Record<string, unknown> | 'unknown' | undefined,
  ): void {
    const digest = (record.crtrail as { config_digest?: unknown } | undefined)?.config_digest;
    const config = typeof digest === 'string' ? this.configs.get(digest) : undefined;
    const reason =
      typeof digest !== 'string'
        ? 'no configuration digest (written before crtrail recorded one)'
        : `configuration ${digest.slice(0, 16)}… not given (pass the --config it was written with)`;
    // A record without a digest was derived by code older than the digest (DERIVATION_VERSION):
    // none of its derived fields can be held to this code. The digest is chained, so it cannot be
    // stripped to dodge the check.
    const result =
      typeof digest === 'string' || !isObject(record.crtrail?.change)
        ? checkDerived(record, config, reason, previous)
        : { edits: [], unchecked: DERIVED_FIELDS.map((field) => ({ field, reason })) };
    for (const e of result.edits) {
      this.report({
        kind: 'edited',
        cluster,
        seq,
        where: at,
        message: `${at}: ${e.field} edited (stored ${shown(e.stored)}, recomputed ${shown(e.recomputed)})`,
      });
    }
    if (result.unchecked.length === 0) {
      this.derivedChecked++;
      return;
    }
    const byReason = new Map<string, string[]>();
    for (const u of result.unchecked) byReason.set(u.reason, [...(byReason.get(u.reason) ?? []), u.field]);
    for (const [r, fields] of byReason) {
      const entry = this.derivedUncheckedBy.get(r) ?? { records: 0, fields: new Set<string>() };
      entry.records++;
      for (const f of fields) entry.fields.add(f);
      this.derivedUncheckedBy.set(r, entry);
    }
  }

  /** Records whose old values could not be checked (all reasons). */
  get oldValuesUnchecked(): number {
    let n = 0;
    for (const v of this.oldValuesUncheckedBy.values()) n += v;
    for (const list of this.waiting.values()) n += list.length;
    return n;
  }

  /** Ends the walk: every gap no filter explains is a missing record. */
  finish(): void {
    // Records whose predecessor never came: their old values and predecessor-dependent fields are counted unchecked.
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const list of waiting) for (const w of list) w.giveUp();
    for (const [cluster, state] of this.clusters) {
      for (const [from, to] of state.gaps) {
        if (state.allowed.some(([a, b]) => a <= from && to <= b)) continue;
        this.report({
          kind: 'missing',
          cluster,
          seq: from,
          where: `cluster ${cluster}`,
          message: `${seqRangeText([from, to])} missing (deleted?)`,
        });
      }
    }
  }

  /** Per-cluster counts, first/last links and gaps seen so far. */
  summary(): Map<string, ClusterSummary> {
    const out = new Map<string, ClusterSummary>();
    for (const [cluster, { allowed: _allowed, ...s }] of this.clusters) out.set(cluster, s);
    return out;
  }
}

/** Map.set that forgets the oldest entry past MAX_KEPT_STATES: constant memory on any length of walk. Returns the forgotten key. */
function remember<V>(map: Map<string, V>, key: string, value: V): string | undefined {
  map.delete(key);
  map.set(key, value);
  if (map.size <= MAX_KEPT_STATES) return undefined;
  const forgotten = oldest(map.keys());
  map.delete(forgotten);
  return forgotten;
}

/** The first item of a Map or Set (its oldest insertion), which the caller knows is not empty. */
function oldest<T>(items: Iterable<T>): T {
  for (const item of items) return item;
  throw new Error('verify: no oldest entry to forget in an empty map');
}

/** A value in a report line: JSON, shortened. */
function shown(value: unknown): string {
  // Plain words stay plain (`stored status`); an empty or multi-line string is quoted, so a report line stays one line.
  const text =
    value === undefined
      ? 'nothing'
      : typeof value === 'string' && /^[^\n\r]+$/.test(value)
        ? value
        : (JSON.stringify(value) ?? String(value));
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
