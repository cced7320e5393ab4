import { canonicalJson, isObject } from '@crtrail/audit';
import { GENESIS_HASH, clusterOf, recordHash, type ChainedRecord, type Integrity } from './chain.js';

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
  /** An op's new value is not what the record's own (chained) response body holds at that path. */
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
  if (pointer === '') return { found: true, value: node };
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
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
  const response = audit.responseObject;
  if (!isObject(response) || response.kind === 'Status') return undefined;
  const ops = (record.crtrail?.change as { ops?: unknown } | undefined)?.ops;
  if (!Array.isArray(ops)) return undefined;
  for (const op of ops) {
    if (!isObject(op) || (op.op !== 'add' && op.op !== 'replace') || typeof op.path !== 'string') continue;
    const at = pointerGet(response, op.path);
    if (!at.found) return `${op.path} is not in the stored response body`;
    if (canonicalJson(at.value) !== canonicalJson(op.new)) return `${op.path}: new value differs from the stored response body`;
  }
  return undefined;
}

interface ClusterState extends ClusterSummary {
  allowed: SeqRange[];
}

/**
 * Walks records in order (per cluster by seq, as exports and the stored walk sort them), keeping
 * only each cluster's last link: constant memory whatever the length of the chain.
 */
export class ChainVerifier {
  private readonly clusters = new Map<string, ClusterState>();
  readonly problems: Problem[] = [];
  private problemCount = 0;

  constructor(private readonly options: VerifyOptions = {}) {}

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
        this.report({ kind: 'edited', cluster, seq, where, message: `${at}: content does not match its hash (edited)` });
      }
      const opsProblem = checkOps(record);
      if (opsProblem) this.report({ kind: 'ops-mismatch', cluster, seq, where, message: `${at}: ${opsProblem}` });
    }
    const last = state.last;
    if (!last) {
      const start = this.options.startSeq;
      if (start !== undefined && seq > start) state.gaps.push([start, seq - 1]);
      if (seq === 1 && integrity.prev_hash !== GENESIS_HASH) {
        this.report({ kind: 'broken-link', cluster, seq, where, message: `${at}: the first record's prev_hash is not the genesis hash` });
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
        this.report({ kind: 'broken-link', cluster, seq, where, message: `${at}: prev_hash is not the hash of seq ${last.seq} (a record was replaced)` });
      }
    } else {
      state.gaps.push([last.seq + 1, seq - 1]);
    }
    state.last = integrity;
  }

  /** Ends the walk: every gap no filter explains is a missing record. */
  finish(): void {
    for (const [cluster, state] of this.clusters) {
      for (const [from, to] of state.gaps) {
        if (state.allowed.some(([a, b]) => a <= from && to <= b)) continue;
        const range = from === to ? `seq ${from}` : `seqs ${from}–${to}`;
        this.report({ kind: 'missing', cluster, seq: from, where: `cluster ${cluster}`, message: `${range} missing (deleted?)` });
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
