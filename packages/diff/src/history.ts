import type { KubeObject } from '@crtrail/audit';
import type { ChangeKind } from './kind.js';
import type { Op } from './ops.js';

/** What orders writes of one object (see {@link compareVersions}). */
export type OrderKey = Pick<Version, 'resourceVersion' | 'stageTimestamp' | 'auditID' | 'deleted'>;

/**
 * A record's predecessor-dependent fields as last computed (paths and patch are derived from ops,
 * so not stored). Kept with the write because the version it was diffed against may leave the
 * bounded history, and a replay must still give the identical record.
 */
export interface StoredFields {
  ops: Op[];
  kind: ChangeKind;
  baseline: 'known' | 'unknown' | 'none';
  server_mutations?: Op[];
  /** Diffed across a write whose result we never saw (see {@link Subject.opaque}). */
  gap?: boolean;
}

/** What the engine keeps of one write, enough to recompute its record against another predecessor. */
export interface Subject {
  recordId: string;
  auditID: string;
  uid: string;
  /** resourceVersion of the stored object after the write (a version) or of the state it refers to (a dependent). */
  resourceVersion: string;
  stageTimestamp: string;
  verb: string;
  subresource?: string;
  /** Sanitised object: the stored state (version), the would-be state (dry run), the sent object (failed update). */
  object: KubeObject;
  /** For patches: the patch document and its type. */
  request?: unknown;
  patchType?: string;
  /** A PATCH answered 201: server-side apply created the object. */
  created?: boolean;
  /**
   * The state this write left is unknown: a write logged without its response body (Metadata
   * level, truncated), or a scale write whose predecessor is unknown. Such a version orders the
   * history (the next write is diffed across a gap) but is never a base for old values.
   */
  opaque?: boolean;
  /** A `/scale` write: the `autoscaling/v1` Scale it answered (its stored state is derived from the predecessor's). */
  scale?: KubeObject;
  /** Caller's annotations of the write (e.g. its actor), carried so a repair can re-enrich the record. */
  meta?: Record<string, unknown>;
  /** Its record's predecessor-dependent fields; absent for a create (they depend on nothing but its object). */
  fields?: StoredFields;
  /**
   * Order key of the version those fields were diffed against (absent: none was known). A late
   * write is a better base only when ordered after it, even once that version has left the history.
   */
  base?: OrderKey;
}

/** One stored state of one object, as a state-changing write left it. */
export interface Version extends Subject {
  /** The write removed the object (delete without finalizers, last finalizer removed). */
  deleted: boolean;
}

/**
 * A record diffed against a stored version it names but did not create: a dry run (its response keeps
 * the stored resourceVersion), a failed update (its request names the resourceVersion it expected),
 * a no-op write (same resourceVersion), any other failed write with a body (`failed`: the version
 * stored when it was made, by time). Kept so that when that version arrives late, the record is
 * repaired like a successor.
 */
export interface Dependent extends Subject {
  role: 'dry-run' | 'failed-update' | 'failed' | 'noop';
}

/** Versions (ascending) and dependents of one object (all its uids); JSON for the Redis state store. */
export interface History {
  versions: Version[];
  dependents?: Dependent[];
}

/**
 * How many versions / dependents of one object are kept. Enough for realistic reordering (HA
 * apiservers reorder within seconds: a handful of writes of one object); small because every batch
 * that touches the object reads and writes its whole history (a 20 KB CR × 8 versions), so the
 * window costs throughput and worker memory directly (measured by `npm run bench`). An event later
 * than this window is diffed with an unknown baseline rather than against a wrong one. Records are
 * independent of delivery order as long as no event arrives after MAX_VERSIONS newer versions of
 * its object (the property tests check up to that edge).
 */
export const MAX_VERSIONS = 8;
export const MAX_DEPENDENTS = 8;

const DECIMAL = /^\d+$/;

/** Two resourceVersions compared as etcd revisions (integers); `undefined` when either is opaque. */
export function compareResourceVersions(a: string, b: string): number | undefined {
  if (!DECIMAL.test(a) || !DECIMAL.test(b)) return undefined;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Orders writes of one object. resourceVersions are etcd revisions (decimal) in every real
 * apiserver, so they compare as integers; opaque ones fall back to stageTimestamp. At an equal
 * resourceVersion a delete comes after the write it deleted (a delete answers with the last stored
 * state, resourceVersion unchanged). auditID breaks the remaining ties deterministically.
 */
export function compareVersions(a: OrderKey, b: OrderKey): number {
  // Writes without a resourceVersion (logged without bodies, a delete answered by a Status) are placed by time.
  if (a.resourceVersion !== b.resourceVersion || a.resourceVersion === '') {
    const byRevision = compareResourceVersions(a.resourceVersion, b.resourceVersion);
    if (byRevision !== undefined && byRevision !== 0) return byRevision;
    if (a.stageTimestamp !== b.stageTimestamp) return a.stageTimestamp < b.stageTimestamp ? -1 : 1;
  }
  if (a.deleted !== b.deleted) return a.deleted ? 1 : -1;
  if (a.stageTimestamp !== b.stageTimestamp) return a.stageTimestamp < b.stageTimestamp ? -1 : 1;
  return a.auditID < b.auditID ? -1 : a.auditID > b.auditID ? 1 : 0;
}

/** A new sorted list with `v` inserted, keeping the newest {@link MAX_VERSIONS}. */
export function insertVersion(versions: Version[], v: Version): Version[] {
  return boundVersions([...versions, v].sort(compareVersions));
}

/**
 * The newest {@link MAX_VERSIONS} of a sorted list. Applied only after a write's predecessor and
 * successor were found in the full list: a late write whose predecessor is the oldest kept version
 * must still be diffed against it, whichever version the bound then drops.
 */
export function boundVersions(sorted: Version[]): Version[] {
  return sorted.length > MAX_VERSIONS ? sorted.slice(sorted.length - MAX_VERSIONS) : sorted;
}

/** The order key of a version (what {@link Subject.base} keeps of it). */
export function orderKey(v: OrderKey): OrderKey {
  return {
    resourceVersion: v.resourceVersion,
    stageTimestamp: v.stageTimestamp,
    auditID: v.auditID,
    deleted: v.deleted,
  };
}

/**
 * Whether two writes are of the same incarnation. A write that does not name its uid (logged
 * without bodies, a delete answered by a Status without details) belongs to whichever is live.
 */
export const sameLife = (a: Pick<Subject, 'uid'>, b: Pick<Subject, 'uid'>): boolean =>
  a.uid === b.uid || a.uid === '' || b.uid === '';

/** The latest version of the same incarnation (uid) strictly before `v`. */
export function predecessorOf(v: Version, versions: Version[]): Version | undefined {
  let found: Version | undefined;
  for (const x of versions) {
    if (!sameLife(x, v) || x.recordId === v.recordId) continue;
    if (compareVersions(x, v) < 0) found = x;
  }
  return found;
}

/** The first version of the same incarnation strictly after `v`. */
export function successorOf(v: Version, versions: Version[]): Version | undefined {
  return versions.find((x) => sameLife(x, v) && x.recordId !== v.recordId && compareVersions(x, v) > 0);
}

/**
 * When `pred` is opaque (its result unseen): the latest state we did see before it, of incarnation
 * `uid` — what a full body after the gap is compared with (`baseline: unknown`, `gap: true`).
 */
export function knownBefore(pred: Version | undefined, uid: string, versions: Version[]): Version | undefined {
  if (!pred?.opaque) return undefined;
  let found: Version | undefined;
  for (const x of versions) {
    if (compareVersions(x, pred) >= 0) continue;
    if (x.opaque || (uid !== '' && x.uid !== uid)) continue;
    if (!found || compareVersions(x, found) > 0) found = x;
  }
  return found && !found.deleted ? found : undefined;
}

/**
 * A failed write names no version: the last write stored before it was answered (a failed write
 * changes nothing, so it never becomes a base itself). When that one is opaque or a removal, the
 * failed write has no base, but it is still the write a late arrival must be compared with.
 */
export function lastWriteBefore(d: Pick<Subject, 'uid' | 'stageTimestamp'>, versions: Version[]): Version | undefined {
  let last: Version | undefined;
  for (const v of versions) {
    if (!sameLife(v, d) || v.stageTimestamp > d.stageTimestamp) continue;
    if (!last || compareVersions(v, last) > 0) last = v;
  }
  return last;
}

/**
 * The stored version a record that made none was diffed against: the live version (same uid, not
 * deleted) with the resourceVersion it names. A dry run's response keeps the stored
 * resourceVersion, so when that version is not (yet) in the history, its base is the latest earlier
 * one we have: a function of the set of versions only, never of the delivery order, so a version
 * arriving late can repair it ({@link Dependent}). Failed updates and no-ops name their version
 * exactly or have none.
 */
export function baseOf(
  d: Pick<Dependent, 'uid' | 'resourceVersion' | 'role' | 'stageTimestamp'>,
  versions: Version[],
): Version | undefined {
  let earlier: Version | undefined;
  if (d.role === 'failed') {
    const last = lastWriteBefore(d, versions);
    return last && !last.deleted && !last.opaque ? last : undefined;
  }
  for (const v of versions) {
    if (v.uid !== d.uid || v.deleted) continue;
    if (v.resourceVersion === d.resourceVersion) return v;
    if (d.role === 'dry-run' && compareResourceVersions(v.resourceVersion, d.resourceVersion) === -1) earlier = v;
  }
  return earlier;
}
