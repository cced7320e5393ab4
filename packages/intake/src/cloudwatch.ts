import { isObject, type AuditEvent } from '@crtrail/audit';
import { DEFAULT_MAX_INFLATED_BYTES, maybeGunzip, parseJson } from './decode.js';
import { intakeErrors } from './errors.js';
import { nativeEventOf, withAnnotations } from './event.js';
import type { Conversion, Skipped } from './result.js';

/** One log event of a CloudWatch Logs subscription payload. */
export interface CloudWatchLogEvent {
  id: string;
  timestamp: number;
  message: string;
}

/**
 * The payload CloudWatch Logs hands a subscription destination (gzip'd JSON, one per Firehose
 * record): `DATA_MESSAGE` with log events, or `CONTROL_MESSAGE` when it checks the destination.
 */
export interface CloudWatchPayload {
  messageType: 'DATA_MESSAGE' | 'CONTROL_MESSAGE';
  owner: string;
  logGroup: string;
  logStream: string;
  subscriptionFilters: string[];
  logEvents: CloudWatchLogEvent[];
}

/**
 * EKS writes each control-plane log type to its own streams of `/aws/eks/<cluster>/cluster`;
 * the audit log's are `kube-apiserver-audit-<id>`. The others (api, authenticator,
 * controllerManager, scheduler) share the log group, so a subscription filter without a pattern
 * delivers them too.
 */
export const EKS_AUDIT_STREAM_PREFIX = 'kube-apiserver-audit-';

/** Checks the shape of a decoded subscription payload; `where` names it in errors. */
export function parseCloudWatchPayload(value: unknown, where: string): CloudWatchPayload {
  if (!isObject(value))
    throw intakeErrors.invalidShape(where, 'expected a CloudWatch Logs subscription payload object');
  const { messageType, logEvents } = value;
  if (messageType !== 'DATA_MESSAGE' && messageType !== 'CONTROL_MESSAGE') {
    throw intakeErrors.invalidShape(`${where}.messageType`, 'must be DATA_MESSAGE or CONTROL_MESSAGE');
  }
  for (const key of ['owner', 'logGroup', 'logStream'] as const) {
    if (typeof value[key] !== 'string') throw intakeErrors.invalidShape(`${where}.${key}`, 'must be a string');
  }
  if (!Array.isArray(logEvents)) throw intakeErrors.invalidShape(`${where}.logEvents`, 'must be an array');
  logEvents.forEach((e, i) => {
    if (!isObject(e) || typeof e.message !== 'string')
      throw intakeErrors.invalidShape(`${where}.logEvents[${i}].message`, 'must be a string');
  });
  return value as unknown as CloudWatchPayload;
}

/**
 * The audit events of one decoded subscription payload. A control message and log events of
 * non-audit streams are skipped (and listed); a log event of an audit stream that is not an audit
 * event is an error: the stream is the apiserver's audit log and nothing else.
 */
export function eksEventsOfPayload(payload: CloudWatchPayload, where: string): Conversion {
  const skipped: Skipped[] = [];
  const events: AuditEvent[] = [];
  if (payload.messageType === 'CONTROL_MESSAGE') return { events, skipped: [{ where, reason: 'control-message' }] };
  payload.logEvents.forEach((logEvent, i) => {
    const at = `${where}.logEvents[${i}]`;
    if (!payload.logStream.startsWith(EKS_AUDIT_STREAM_PREFIX)) {
      skipped.push({ where: at, reason: 'not-audit-stream' });
      return;
    }
    events.push(withAnnotations(nativeEventOf(parseJson(logEvent.message, `${at}.message`), at), 'eks'));
  });
  return { events, skipped };
}

/**
 * Decodes one Firehose record's data (already base64-decoded) from a CloudWatch Logs
 * subscription: gzip'd JSON as CloudWatch sends it, or plain JSON when the Firehose stream's
 * "decompress source records from CloudWatch Logs" option is on.
 */
export function eksEventsOfRecord(
  data: Uint8Array,
  where: string,
  maxInflatedBytes = DEFAULT_MAX_INFLATED_BYTES,
): Conversion {
  if (data.length === 0) return { events: [], skipped: [{ where, reason: 'empty' }] };
  const payload = parseCloudWatchPayload(parseJson(maybeGunzip(data, where, maxInflatedBytes), where), where);
  return eksEventsOfPayload(payload, where);
}
