import type { AuditEvent, KubeObject, Level, Stage, UserInfo } from '@crtrail/audit';
import type { ChangeFields } from '@crtrail/diff';
import type { Actor } from '@crtrail/enrich';
import type { Integrity } from '@crtrail/integrity';

/**
 * The one type of a change record: the Elasticsearch document `buildRecord` writes to
 * `<prefix>-changes`, field by field as docs/RECORDS.md describes it. ECS + `kubernetes.audit.*` (as
 * Elastic's Kubernetes audit integration names them) + `crtrail.*`. Its parts come from the packages
 * that compute them: the change from diff ({@link ChangeFields}), the actor from enrich
 * ({@link Actor}), the chain links from integrity ({@link Integrity}). Readers take picks of it
 * ({@link StoredRecordDoc} for documents read back, where any field may be missing).
 *
 * A type alias, not an interface: an alias has an implicit index signature, so a record is still a
 * `Record<string, unknown>` where the bulk helper, the chain and the alerts take one.
 */
export type ChangeRecordDoc = {
  /** The event's `stageTimestamp` (its `requestReceivedTimestamp` when it has none). */
  '@timestamp': string | undefined;
  ecs: { version: string };
  event: RecordEventFields;
  orchestrator: {
    /** The cluster the webhook was told the event came from. */
    cluster: { name: string };
    type: 'kubernetes';
    namespace: string | undefined;
    resource: { type: string | undefined; name: string | undefined };
  };
  /** The effective actor's name (`crtrail.actor.name`), as ECS places it. */
  user: { name: string };
  /** The first of `sourceIPs`; absent when the event has none. */
  source: { ip: string | undefined } | undefined;
  user_agent: { original: string } | undefined;
  kubernetes: { audit: RecordAuditFields };
  crtrail: CrtrailFields;
};

/** `event.*` (ECS). */
export interface RecordEventFields {
  /** The auditID. */
  id: string;
  /** The verb. */
  action: string;
  /** `failure` when `responseStatus.code` ≥ 400, else `success`. */
  outcome: 'success' | 'failure';
  kind: 'event';
  category: ['configuration'];
  type: ['creation' | 'deletion' | 'change'];
  /** The event's `requestReceivedTimestamp`. */
  created: string | undefined;
  /** When the worker wrote the record (ISO): pipeline lag; not chained. */
  ingested: string | undefined;
}

/** `kubernetes.audit.objectRef`: as in the event, name/uid/resourceVersion filled from the object when the event lacks them. */
export interface RecordObjectRef {
  apiGroup: string;
  apiVersion: string | undefined;
  resource: string | undefined;
  subresource: string | undefined;
  namespace: string | undefined;
  name: string | undefined;
  /** The object's uid; for a DELETE answered by a `Status`, its `details.uid`. */
  uid: string | undefined;
  resourceVersion: string | undefined;
}

/** `kubernetes.audit.*`: the audit event as the apiserver logged it (after redaction). Chained. */
export interface RecordAuditFields {
  auditID: string;
  level: Level;
  stage: Stage;
  verb: string;
  requestURI: string;
  userAgent: string | undefined;
  sourceIPs: string[];
  requestReceivedTimestamp: string | undefined;
  stageTimestamp: string | undefined;
  objectRef: RecordObjectRef;
  user: UserInfo;
  impersonatedUser: UserInfo | undefined;
  /** The event's responseStatus, its `code` always set (200 when the event has none). */
  responseStatus: NonNullable<AuditEvent['responseStatus']> & { code: number };
  annotations: Record<string, string> | undefined;
  /**
   * What the client sent, kept unindexed in `_source`; absent for create/update, whose request is
   * the stored response minus `server_mutations` (storing both would double every record).
   */
  requestObject: unknown;
  /** The object as stored after the write (a Status on failure; for deletecollection, the one item). */
  responseObject: unknown;
}

/** `crtrail.actor`: who wrote, by the request (see {@link Actor}); `kind`, `name`, `tool` are recomputed by `verify`. */
export type RecordActor = Actor;

/**
 * `crtrail.change` as the worker writes it: the change engine's fields, the enricher's, the link to
 * the state it was diffed against, and the searchable text. Not chained but `state_hash` and
 * `dry_run`: a late event's repair rewrites the rest in place.
 */
export interface RecordChange extends ChangeFields {
  /** Whether a critical rule matched (`critical_paths` non-empty). */
  critical: boolean;
  /** The changed paths a critical rule names. */
  critical_paths: string[];
  /** A GitOps-managed object changed by someone other than its GitOps manager. */
  drift: boolean;
  /** `state_hash` of the stored state this record was diffed against (rewritten by repairs; null = none known). */
  prev_state_hash?: string | null | undefined;
}

/** `crtrail.change` with its text: what the document holds. */
export interface RecordChangeFields extends RecordChange {
  /** One line per op, `path: old → new` (`opsText`): the searchable form of values that are not mapped. */
  text: string;
}

/** `crtrail.object`: the object the record is about. */
export interface RecordObjectFields {
  /** Its kind: the object's own, or (a `Status` answer) its predecessor's or the learned one. */
  kind: string | undefined;
  group: string;
  /** The API version the write went through (`objectRef.apiVersion`). */
  version: string | undefined;
  resource: string | undefined;
  namespace: string | undefined;
  name: string | undefined;
  uid: string | undefined;
  resourceVersion: string | undefined;
  /** `cluster/group/resource/namespace/name` (see `objectKey`): the object across its records, as one keyword. */
  key: string | undefined;
}

/** `crtrail.*`. */
export interface CrtrailFields {
  actor: RecordActor;
  object: RecordObjectFields;
  change: RecordChangeFields;
  /** The stored state after the write, when there is one. */
  state: { after: KubeObject } | undefined;
  /** sha256 of the configuration the derived fields were computed with (chained, so `verify` recomputes them with it). */
  config_digest: string | undefined;
  /** When the webhook acked the batch (ISO): pipeline lag; not chained. */
  received_at: string | undefined;
  /** The per-cluster hash chain link, set when the record is sealed (after it is built). */
  integrity?: Integrity;
}

/** A value read back, where any member may be missing; arrays (ops, paths) are taken as they are. */
type Partly<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: Partly<T[K]> } : T;

/**
 * The fields `K` of a record as read back from Elasticsearch (or an export): any member may be
 * missing — written by an older version, left out of `_source`, or edited — so readers check what
 * they use.
 */
export type StoredRecordDoc<K extends keyof ChangeRecordDoc = keyof ChangeRecordDoc> = Partly<Pick<ChangeRecordDoc, K>>;
