import { isObject, type AuditEvent } from '@crtrail/audit';
import { BODIES_ANNOTATION, TRUNCATED_ANNOTATION } from './annotations.js';
import { DEFAULT_MAX_INFLATED_BYTES, exportText, parseJson } from './decode.js';
import { IntakeError, intakeErrors } from './errors.js';
import { nativeEventOf, withAnnotations } from './event.js';
import type { Conversion, ExportRead, Rejected, Skipped } from './result.js';

/*
 * AKS control-plane logs are Azure Monitor resource logs, routed by a diagnostic setting. Each
 * record has the common resource-log fields (`time`, `resourceId`, `category`, `operationName`)
 * and `properties` {log, stream, pod, containerID}; for the `kube-audit` and `kube-audit-admin`
 * categories `properties.log` is one audit.k8s.io/v1 Event as a JSON string (kube-audit-admin is
 * the same stream without get and list). To a storage account: blobs
 * `insights-logs-<category>/resourceId=…/y=…/m=…/d=…/h=…/m=00/PT1H.json`, one record per line
 * (JSON Lines since 2018-11-01). To an Event Hub: each message body is {"records": [...]}.
 */

/** The diagnostic categories that carry the apiserver's audit events. */
export const AKS_AUDIT_CATEGORIES: readonly string[] = Object.freeze(['kube-audit', 'kube-audit-admin']);

/**
 * What AKS writes instead of a request or response object it found too big (documented for the
 * AKSAudit table's RequestObject / ResponseObject).
 */
export const AKS_SKIPPED_BODY = 'skipped-too-big-size-object';

/** One diagnostic-settings resource-log record (the fields crtrail reads). */
export interface AksRecord {
  time?: string;
  resourceId?: string;
  category?: string;
  operationName?: string;
  properties?: { log?: string; stream?: string; pod?: string; containerID?: string } | string;
}

/**
 * A body AKS replaced by a placeholder string is dropped and the event marked truncated, as the
 * apiserver marks one whose bodies it dropped: the change engine then treats it as it treats a
 * Metadata-level event (no state, a gap) instead of diffing a string as an object.
 */
function dropSkippedBodies(event: AuditEvent): AuditEvent {
  if (typeof event.requestObject !== 'string' && typeof event.responseObject !== 'string') return event;
  const out: AuditEvent = { ...event };
  if (typeof out.requestObject === 'string') delete out.requestObject;
  if (typeof out.responseObject === 'string') delete out.responseObject;
  return {
    ...out,
    annotations: { ...(out.annotations ?? {}), [TRUNCATED_ANNOTATION]: 'true', [BODIES_ANNOTATION]: 'skipped-too-big' },
  };
}

/**
 * The audit event of one AKS record, or `undefined` (with the reason) for a record of another
 * category. A record of an audit category whose `properties.log` is not an audit event throws.
 */
export function aksEventOfRecord(record: unknown, where: string): { event: AuditEvent } | { skipped: Skipped } {
  if (!isObject(record)) throw intakeErrors.invalidShape(where, 'expected a diagnostic-settings record object');
  const category = record.category;
  if (typeof category !== 'string' || !AKS_AUDIT_CATEGORIES.includes(category))
    return { skipped: { where, reason: 'not-audit-category' } };
  // `properties` is an object in Event Hub and storage exports; some pipelines re-serialise it.
  const properties =
    typeof record.properties === 'string' ? parseJson(record.properties, `${where}.properties`) : record.properties;
  if (!isObject(properties) || typeof properties.log !== 'string')
    throw intakeErrors.invalidShape(`${where}.properties.log`, 'must be a string holding one audit event');
  const event = nativeEventOf(parseJson(properties.log, `${where}.properties.log`), `${where}.properties.log`);
  return { event: withAnnotations(dropSkippedBodies(event), 'aks') };
}

/** The audit events of `{"records": [...]}` (one Event Hub message, or an exported file of that form). */
export function aksEventsOfRecords(body: unknown, where = 'body'): Conversion {
  if (!isObject(body) || !Array.isArray(body.records))
    throw intakeErrors.invalidShape(where, 'expected {"records": [...]}');
  const events: AuditEvent[] = [];
  const skipped: Skipped[] = [];
  body.records.forEach((r, i) => {
    const out = aksEventOfRecord(r, `${where}.records[${i}]`);
    if ('event' in out) events.push(out.event);
    else skipped.push(out.skipped);
  });
  return { events, skipped };
}

/**
 * Reads a whole AKS export (for `crtrail replay`): a storage blob of JSON Lines, or a
 * `{"records": [...]}` file, gzip'd or not. Tolerant: a bad line or record is listed in
 * `rejected` and the rest is read, so replay can report every problem and exit ≠ 0.
 */
export function readAksExport(content: Uint8Array | string, maxInflatedBytes = DEFAULT_MAX_INFLATED_BYTES): ExportRead {
  const text = exportText(content, maxInflatedBytes);
  const events: AuditEvent[] = [];
  const skipped: Skipped[] = [];
  const rejected: Rejected[] = [];
  const attempt = (where: string, f: () => void): void => {
    try {
      f();
    } catch (err) {
      if (!(err instanceof IntakeError)) throw err;
      rejected.push({ where, reason: err.message });
    }
  };
  const take = (record: unknown, where: string): void => {
    const out = aksEventOfRecord(record, where);
    if ('event' in out) events.push(out.event);
    else skipped.push(out.skipped);
  };
  // A `{"records": [...]}` file may be one JSON document over many lines (pretty-printed);
  // otherwise each line is a record (a storage blob) or a whole `{"records"}` message (Event Hub
  // messages dumped one per line).
  if (/^\{\s*"records"\s*:/.test(text.trimStart())) {
    let whole: unknown;
    try {
      whole = parseJson(text, 'file');
    } catch {
      whole = undefined;
    }
    if (isObject(whole) && Array.isArray(whole.records)) {
      whole.records.forEach((r, i) => attempt(`records[${i}]`, () => take(r, `records[${i}]`)));
      return { events, skipped, rejected };
    }
  }
  text.split(/\r?\n/).forEach((line, i) => {
    const where = `line ${i + 1}`;
    if (line.trim() === '') return;
    attempt(where, () => {
      const value = parseJson(line, where);
      if (isObject(value) && Array.isArray(value.records) && value.category === undefined) {
        value.records.forEach((r, j) => attempt(`${where}.records[${j}]`, () => take(r, `${where}.records[${j}]`)));
      } else {
        take(value, where);
      }
    });
  });
  return { events, skipped, rejected };
}

/**
 * The cluster name in an AKS `resourceId`
 * (`/SUBSCRIPTIONS/…/RESOURCEGROUPS/…/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/<name>`).
 * Azure upper-cases resource ids in resource logs, so the name may come back upper-cased: a replay
 * should prefer `--cluster`.
 */
export function aksClusterOf(resourceId: string): string | undefined {
  const m = /\/managedclusters\/([^/]+)\/?$/i.exec(resourceId);
  return m?.[1];
}
