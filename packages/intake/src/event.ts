import { isObject, validateEvent, type AuditEvent } from '@crtrail/audit';
import { SOURCE_ANNOTATION, type IntakeSource } from './annotations.js';
import { intakeErrors } from './errors.js';

/**
 * The one gate every converted event passes: the webhook's own schema (packages/audit), so an
 * intake can put nothing on the queue that `POST /audit` would have refused. `where` prefixes the
 * reason (`records[0].logEvents[3]: event.stageTimestamp: must be an RFC 3339 timestamp`).
 */
export function admitConverted(candidate: unknown, where: string): AuditEvent {
  const checked = validateEvent(candidate, 'event');
  if (!checked.ok) throw intakeErrors.invalidEvent(`${where}: ${checked.reason}`);
  return checked.value;
}

/** The event with `crtrail.dev/source` and any further annotations added (a new annotations map; other fields shared). */
export function withAnnotations(
  event: AuditEvent,
  source: IntakeSource,
  extra: Record<string, string> = {},
): AuditEvent {
  return { ...event, annotations: { ...(event.annotations ?? {}), [SOURCE_ANNOTATION]: source, ...extra } };
}

/**
 * One audit event written by the apiserver itself as JSON text (an EKS CloudWatch log event's
 * `message`, an AKS record's `properties.log`): parsed, checked against the schema, annotated.
 */
export function nativeEventOf(value: unknown, where: string): AuditEvent {
  if (!isObject(value)) throw intakeErrors.invalidShape(where, 'expected one audit.k8s.io/v1 Event object');
  return admitConverted(value, where);
}
