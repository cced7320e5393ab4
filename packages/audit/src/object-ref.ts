import type { AuditEvent, KubeObject } from './types.js';

/** `true` for a plain JSON object (not an array, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The HTTP status of the response; 200 when the apiserver logged none (Panic logs 500). */
export function responseCode(event: AuditEvent): number {
  if (typeof event.responseStatus?.code === 'number') return event.responseStatus.code;
  return event.stage === 'Panic' ? 500 : 200;
}

/** `dryRun` in the request URI's query (`?dryRun=All`): nothing was persisted. */
export function isDryRun(event: AuditEvent): boolean {
  const q = event.requestURI.indexOf('?');
  if (q < 0) return false;
  return new URLSearchParams(event.requestURI.slice(q + 1)).has('dryRun');
}

/** The responseObject when it is a Kubernetes object (not a Status, not absent). */
export function responseKubeObject(event: AuditEvent): KubeObject | undefined {
  const obj = event.responseObject;
  if (!isObject(obj) || obj.kind === 'Status') return undefined;
  return obj as KubeObject;
}

/** Items of a `List` responseObject (deletecollection at RequestResponse level). */
export function listItems(obj: unknown): KubeObject[] | undefined {
  if (!isObject(obj) || !Array.isArray(obj.items)) return undefined;
  if (typeof obj.kind === 'string' && !obj.kind.endsWith('List')) return undefined;
  return obj.items.filter(isObject) as KubeObject[];
}
