import type { KubeObject } from '@crtrail/audit';

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
}

/** One stored state of one object, as a state-changing write left it. */
export interface Version extends Subject {
  /** The write removed the object (delete without finalizers, last finalizer removed). */
  deleted: boolean;
}

/**
 * A record diffed against a stored version it names but did not create: a dry run (its response keeps
 * the stored resourceVersion), a failed update (its request names the resourceVersion it expected),
 * a no-op write (same resourceVersion). Kept so that when that version arrives late, the record is
 * repaired like a successor.
 */
export interface Dependent extends Subject {
  role: 'dry-run' | 'failed-update' | 'noop';
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
 * than this window is diffed with an unknown baseline rather than against a wrong one.
 */
export const MAX_VERSIONS = 8;
export const MAX_DEPENDENTS = 8;

const DECIMAL = /^\d+$/;

/**
 * Orders writes of one object. resourceVersions are etcd revisions (decimal) in every real
 * apiserver, so they compare as integers; opaque ones fall back to stageTimestamp. At an equal
 * resourceVersion a delete comes after the write it deleted (a delete answers with the last stored
 * state, resourceVersion unchanged). auditID breaks the remaining ties deterministically.
 */
export function compareVersions(a: Version, b: Version): number {
  if (a.resourceVersion !== b.resourceVersion) {
    if (DECIMAL.test(a.resourceVersion) && DECIMAL.test(b.resourceVersion)) {
      return BigInt(a.resourceVersion) < BigInt(b.resourceVersion) ? -1 : 1;
    }
    if (a.stageTimestamp !== b.stageTimestamp) return a.stageTimestamp < b.stageTimestamp ? -1 : 1;
  }
  if (a.deleted !== b.deleted) return a.deleted ? 1 : -1;
  if (a.stageTimestamp !== b.stageTimestamp) return a.stageTimestamp < b.stageTimestamp ? -1 : 1;
  return a.auditID < b.auditID ? -1 : a.auditID > b.auditID ? 1 : 0;
}

/** A new sorted list with `v` inserted, keeping the newest {@link MAX_VERSIONS}. */
export function insertVersion(versions: Version[], v: Version): Version[] {
  const next = [...versions, v].sort(compareVersions);
  return next.length > MAX_VERSIONS ? next.slice(next.length - MAX_VERSIONS) : next;
}

/** The latest version of the same incarnation (uid) strictly before `v`. */
export function predecessorOf(v: Version, versions: Version[]): Version | undefined {
  let found: Version | undefined;
  for (const x of versions) {
    if (x.uid !== v.uid || x.recordId === v.recordId) continue;
    if (compareVersions(x, v) < 0) found = x;
  }
  return found;
}

/** The first version of the same incarnation strictly after `v`. */
export function successorOf(v: Version, versions: Version[]): Version | undefined {
  return versions.find((x) => x.uid === v.uid && x.recordId !== v.recordId && compareVersions(x, v) > 0);
}
