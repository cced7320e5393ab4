import type { AuditEvent, KubeObject } from '@crtrail/audit';
import type { RecordChange } from '@crtrail/store';

/** One record the tracker produced for one mutation (one per object for deletecollection). */
export interface TrackedRecord {
  id: string;
  event: AuditEvent;
  object?: KubeObject | undefined;
  change: RecordChange;
  stateAfter?: KubeObject | undefined;
  previous?: KubeObject | undefined;
}

/** A record written earlier whose diff was computed against the wrong base (late event): rewrite its change in place. */
export interface TrackedRepair {
  id: string;
  /** Only the predecessor-dependent fields (ops, paths, patch, kind, baseline[, server_mutations]). */
  change: Partial<RecordChange> & Pick<RecordChange, 'ops' | 'paths' | 'kind'>;
  /** The repaired write's stored object and its (now known) predecessor, for re-enrichment. */
  object?: KubeObject | undefined;
  previous?: KubeObject | undefined;
  /** What the write was annotated with when first seen (its actor). */
  meta?: Record<string, unknown> | undefined;
  verb: string;
  /** The repaired record is a dry run / a failed write (dependents of a version): never drift. */
  dryRun: boolean;
  failed: boolean;
  group: string;
  resource?: string | undefined;
}

export interface TrackOutput {
  records: TrackedRecord[];
  repairs: TrackedRepair[];
}

/**
 * Turns a batch's custom-resource mutations into records. `write` runs while the tracker still
 * holds whatever makes one object's events serial, so a record and a later repair of it reach
 * Elasticsearch in that order.
 */
export interface ChangeTracker {
  track(cluster: string, events: AuditEvent[], write: (out: TrackOutput) => Promise<void>): Promise<void>;
  close?(): Promise<void>;
}
