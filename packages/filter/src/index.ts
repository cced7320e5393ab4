import type { AuditEvent } from '@crtrail/audit';

/**
 * API groups served by kube-apiserver itself. Everything else is a custom resource (CRD or an
 * aggregated API). `apiextensions.k8s.io` is deliberately absent: CRD changes are changes to
 * custom resources' schema and matter to the same people. A `*.k8s.io` suffix is NOT a built-in
 * marker (gateway.networking.k8s.io and snapshot.storage.k8s.io are CRDs), hence an explicit list.
 */
export const BUILT_IN_API_GROUPS: readonly string[] = Object.freeze([
  '',
  'admissionregistration.k8s.io',
  'apiregistration.k8s.io',
  'apps',
  'authentication.k8s.io',
  'authorization.k8s.io',
  'autoscaling',
  'batch',
  'certificates.k8s.io',
  'coordination.k8s.io',
  'discovery.k8s.io',
  'events.k8s.io',
  'extensions',
  'flowcontrol.apiserver.k8s.io',
  'internal.apiserver.k8s.io',
  'networking.k8s.io',
  'node.k8s.io',
  'policy',
  'rbac.authorization.k8s.io',
  'resource.k8s.io',
  'scheduling.k8s.io',
  'storage.k8s.io',
  'storagemigration.k8s.io',
  'metrics.k8s.io',
]);

export const MUTATING_VERBS: readonly string[] = Object.freeze([
  'create',
  'update',
  'patch',
  'delete',
  'deletecollection',
]);

/** Only these stages carry the outcome; RequestReceived/ResponseStarted of the same auditID never make a record. */
export const FINAL_STAGES: readonly string[] = Object.freeze(['ResponseComplete', 'Panic']);

export interface FilterOptions {
  /** Groups treated as built-in (dropped). Defaults to {@link BUILT_IN_API_GROUPS}. */
  builtInGroups?: readonly string[];
}

export type FilterDecision = { keep: true } | { keep: false; reason: 'stage' | 'verb' | 'no-object' | 'built-in' };

/** Decides whether one event is a custom-resource mutation crtrail records, and if not, why. */
export function classifyEvent(event: AuditEvent, options: FilterOptions = {}): FilterDecision {
  if (!FINAL_STAGES.includes(event.stage)) return { keep: false, reason: 'stage' };
  if (!MUTATING_VERBS.includes(event.verb)) return { keep: false, reason: 'verb' };
  const ref = event.objectRef;
  if (!ref || !ref.resource) return { keep: false, reason: 'no-object' };
  const builtIn = options.builtInGroups ?? BUILT_IN_API_GROUPS;
  if (builtIn.includes(ref.apiGroup ?? '')) return { keep: false, reason: 'built-in' };
  return { keep: true };
}

export function isCustomResourceMutation(event: AuditEvent, options: FilterOptions = {}): boolean {
  return classifyEvent(event, options).keep;
}
