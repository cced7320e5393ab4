import type { AuditEvent } from '@crtrail/audit';

/** Why a record of a provider's export was passed over without being an error. */
export type SkipReason =
  /** A CloudWatch Logs `CONTROL_MESSAGE` (the subscription's reachability check). */
  | 'control-message'
  /** A CloudWatch log event from an EKS stream other than `kube-apiserver-audit-*` (authenticator, scheduler…). */
  | 'not-audit-stream'
  /** An AKS diagnostic record of a category other than `kube-audit` / `kube-audit-admin`. */
  | 'not-audit-category'
  /** A Cloud Logging entry that is not a Kubernetes audit entry (another service, another payload type). */
  | 'not-k8s-audit'
  /** A GKE audit entry of a non-resource request (`/healthz`, `/version`): no object, never a record. */
  | 'non-resource'
  /** An empty record (Firehose permits them) or a blank line. */
  | 'empty';

export interface Skipped {
  /** Where in the input, as a path a user reads (`records[2].logEvents[0]`, `line 7`). */
  readonly where: string;
  readonly reason: SkipReason;
}

/** Converted events, and what was passed over on the way. */
export interface Conversion {
  readonly events: AuditEvent[];
  readonly skipped: Skipped[];
}

/** A record that could not be converted, in a tolerant read of a whole export file. */
export interface Rejected {
  readonly where: string;
  readonly reason: string;
}

/** The outcome of reading an export file: events, what was skipped, and what was rejected. */
export interface ExportRead extends Conversion {
  readonly rejected: Rejected[];
}
