/**
 * audit.k8s.io/v1 types, as kube-apiserver writes them (k8s.io/apiserver/pkg/apis/audit/v1).
 * Only the fields crtrail reads are typed precisely; the rest passes through untouched.
 */

export type Stage = 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete' | 'Panic';
export type Level = 'None' | 'Metadata' | 'Request' | 'RequestResponse';

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface ObjectReference {
  resource?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiGroup?: string;
  apiVersion?: string;
  resourceVersion?: string;
  subresource?: string;
}

export interface ResponseStatus {
  code?: number;
  status?: string;
  reason?: string;
  message?: string;
  [key: string]: unknown;
}

/** A Kubernetes object as it appears in requestObject/responseObject (or a Status, a List, a patch). */
export type KubeObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: Record<string, unknown> & {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: Array<Record<string, unknown>>;
  };
};

export interface AuditEvent {
  kind?: 'Event';
  apiVersion?: string;
  level: Level;
  auditID: string;
  stage: Stage;
  requestURI: string;
  verb: string;
  user: UserInfo;
  impersonatedUser?: UserInfo;
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: ObjectReference;
  responseStatus?: ResponseStatus;
  /** What the client sent: a full object (create/update), a patch document (patch), DeleteOptions. */
  requestObject?: unknown;
  /** The object as stored after the write, a Status on failure, a List for deletecollection. */
  responseObject?: unknown;
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface EventList {
  kind: 'EventList';
  apiVersion: string;
  metadata?: Record<string, unknown>;
  items: AuditEvent[];
}

export const AUDIT_API_VERSION = 'audit.k8s.io/v1';
