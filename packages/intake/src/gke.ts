import { isObject, type AuditEvent, type ObjectReference, type ResponseStatus } from '@crtrail/audit';
import { BODIES_ANNOTATION, DERIVED_ANNOTATION } from './annotations.js';
import { DEFAULT_MAX_INFLATED_BYTES, exportText, parseJson } from './decode.js';
import { IntakeError, intakeErrors } from './errors.js';
import { admitConverted, withAnnotations } from './event.js';
import type { ExportRead, Rejected, Skipped } from './result.js';

/*
 * GKE writes the apiserver's audit events to Cloud Audit Logs, one LogEntry each: `insertId`,
 * `timestamp`, `receiveTimestamp`, `labels` (the event's annotations, e.g.
 * `authorization.k8s.io/decision`), `operation` {id, producer: k8s.io, first, last},
 * `resource` {type: k8s_cluster, labels: {project_id, location, cluster_name}}, and a
 * `protoPayload` AuditLog: serviceName `k8s.io`, methodName `io.k8s.<group>.<version>.<resource>
 * [.<subresource>].<verb>`, resourceName `<group>/<version>[/namespaces/<ns>]/<resource>[/<name>
 * [/<subresource>]]` (core group spelled `core`), authenticationInfo.principalEmail,
 * authorizationInfo[] {permission, resource, granted}, requestMetadata {callerIp,
 * callerSuppliedUserAgent}, status (google.rpc.Status), and request / response (protobuf Structs
 * tagged with `@type`) when the audit policy logged them. Protobuf JSON omits default values:
 * `granted: false` and `status.code: 0` arrive as absent fields.
 */

/** `protoPayload['@type']` of an audit entry. */
export const GKE_AUDIT_LOG_TYPE = 'type.googleapis.com/google.cloud.audit.AuditLog';
/** `protoPayload.serviceName` of the apiserver's entries (GKE's own API is container.googleapis.com). */
export const GKE_K8S_SERVICE = 'k8s.io';

/**
 * google.rpc.Code → HTTP status, as google/rpc/code.proto documents each code's HTTP mapping.
 * Used only when the entry has no response Status (whose `code` is the apiserver's own answer).
 */
export const RPC_CODE_TO_HTTP: Readonly<Record<number, number>> = Object.freeze({
  1: 499, // CANCELLED
  2: 500, // UNKNOWN
  3: 400, // INVALID_ARGUMENT
  4: 504, // DEADLINE_EXCEEDED
  5: 404, // NOT_FOUND
  6: 409, // ALREADY_EXISTS
  7: 403, // PERMISSION_DENIED
  8: 429, // RESOURCE_EXHAUSTED
  9: 400, // FAILED_PRECONDITION
  10: 409, // ABORTED
  11: 400, // OUT_OF_RANGE
  12: 501, // UNIMPLEMENTED
  13: 500, // INTERNAL
  14: 503, // UNAVAILABLE
  15: 500, // DATA_LOSS
  16: 401, // UNAUTHENTICATED
});

/** The parts of a GKE `methodName`. */
export interface GkeMethod {
  /** GKE's spelling of the group (`core`, `apps`, `authorization.rbac`): informative only, the group comes from resourceName. */
  groupHint: string;
  version: string;
  resource: string;
  subresource?: string;
  verb: string;
}

const VERSION = /^v\d+(?:(?:alpha|beta)\d+)?$/;

/**
 * Splits `io.k8s.<group>.<version>.<resource>[.<subresource>].<verb>`. The group may contain dots,
 * so the version is found from the end: the last segment that reads as a Kubernetes version with
 * one or two segments (resource, subresource) between it and the verb. `undefined` for a method
 * without a resource (a non-resource URL such as `/healthz`).
 */
export function parseGkeMethod(methodName: string): GkeMethod | undefined {
  if (!methodName.startsWith('io.k8s.')) return undefined;
  const parts = methodName.slice('io.k8s.'.length).split('.');
  const verb = parts.pop();
  if (!verb) return undefined;
  for (let i = parts.length - 2; i >= 0 && i >= parts.length - 3; i--) {
    if (!VERSION.test(parts[i]!)) continue;
    // i starts two short of the end, so a resource always follows the version.
    const resource = parts[i + 1]!;
    const subresource = parts[i + 2];
    return {
      groupHint: parts.slice(0, i).join('.'),
      version: parts[i]!,
      resource,
      ...(subresource ? { subresource } : {}),
      verb,
    };
  }
  return undefined;
}

/**
 * The objectRef of a GKE `resourceName`, read with the method's resource so that the ambiguous
 * shapes resolve: `core/v1/namespaces/foo` is the namespace foo, `core/v1/namespaces/foo/pods` the
 * pods of foo. A leading `apis/` or `api/` (the request path's own spelling) is accepted too.
 */
export function gkeObjectRef(resourceName: string, method: GkeMethod): ObjectReference | undefined {
  const segs = resourceName.split('/').filter((s) => s !== '');
  if (segs[0] === 'apis') segs.shift();
  else if (segs[0] === 'api') segs[0] = 'core';
  const [group, version, ...rest] = segs;
  if (!group || !version || rest.length === 0) return undefined;
  const base: ObjectReference = {
    apiGroup: group === 'core' ? '' : group,
    apiVersion: version,
    resource: method.resource,
  };
  let ns: string | undefined;
  let tail: string[];
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] === method.resource) {
    ns = rest[1];
    tail = rest.slice(3);
  } else if (rest[0] === method.resource) {
    tail = rest.slice(1);
  } else {
    return undefined;
  }
  const [name, sub] = tail;
  const subresource = sub ?? method.subresource;
  return {
    ...base,
    ...(ns ? { namespace: ns } : {}),
    ...(name ? { name } : {}),
    ...(subresource ? { subresource } : {}),
  };
}

/** The request path the apiserver served (without its query, which GKE does not log). */
export function requestUriOf(ref: ObjectReference, verb: string): string {
  const prefix = ref.apiGroup ? `/apis/${ref.apiGroup}/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  let path = `${prefix}${ref.namespace ? `/namespaces/${ref.namespace}` : ''}/${ref.resource}`;
  // A create is a POST to the collection; its objectRef names the object (from the body) but its URI does not.
  if (ref.name && !(verb === 'create' && !ref.subresource)) path += `/${ref.name}`;
  if (ref.subresource) path += `/${ref.subresource}`;
  return path;
}

/** A protobuf Struct body as the apiserver logged it: the object without the Struct's `@type` tag. */
function bodyOf(value: unknown): Record<string, unknown> | undefined {
  if (!isObject(value)) return undefined;
  const { ['@type']: _tag, ...object } = value;
  return object;
}

const isTrue = (v: unknown): boolean => v === true || v === 'true';

function responseStatusOf(
  payload: Record<string, unknown>,
  verb: string,
  response: Record<string, unknown> | undefined,
): { status: ResponseStatus; derived: boolean } {
  // A Status response body is the apiserver's own answer, code included.
  if (response && response.kind === 'Status' && typeof response.code === 'number') {
    const { code, status, reason, message } = response;
    return {
      status: {
        code,
        ...(typeof status === 'string' ? { status } : {}),
        ...(typeof reason === 'string' ? { reason } : {}),
        ...(typeof message === 'string' ? { message } : {}),
      },
      derived: false,
    };
  }
  const rpc = isObject(payload.status) ? payload.status : {};
  const rpcCode = typeof rpc.code === 'number' ? rpc.code : 0;
  if (rpcCode === 0) return { status: { code: verb === 'create' ? 201 : 200 }, derived: true };
  const message = typeof rpc.message === 'string' && rpc.message !== '' ? { message: rpc.message } : {};
  return { status: { code: RPC_CODE_TO_HTTP[rpcCode] ?? 500, status: 'Failure', ...message }, derived: true };
}

/** `authorization.k8s.io/decision` from authorizationInfo, when the entry's labels lack it. */
function decisionOf(payload: Record<string, unknown>): string | undefined {
  const info = payload.authorizationInfo;
  if (!Array.isArray(info) || info.length === 0) return undefined;
  return info.every((a) => isObject(a) && isTrue(a.granted)) ? 'allow' : 'forbid';
}

const stringMap = (value: unknown): Record<string, string> =>
  isObject(value)
    ? Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'))
    : {};

/** The cluster name of a GKE entry (`resource.labels.cluster_name`). */
export function gkeClusterOf(entry: unknown): string | undefined {
  if (!isObject(entry) || !isObject(entry.resource) || !isObject(entry.resource.labels)) return undefined;
  const name = entry.resource.labels.cluster_name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Converts one Cloud Audit Logs LogEntry of GKE's apiserver into an audit.k8s.io/v1 Event:
 * verb from the method, objectRef from resourceName, `user.username` from principalEmail,
 * sourceIPs / userAgent from requestMetadata, `responseStatus.code` from a Status response or the
 * google.rpc code, both timestamps from the entry's, auditID = insertId (deterministic, so a
 * replay of the same entry dedupes with its push). The level follows the bodies actually present
 * (RequestResponse / Request / Metadata), so an entry without a response body reaches the change
 * engine exactly as a Metadata-level event does: a gap, never a complete write.
 * `crtrail.dev/bodies` and `crtrail.dev/derived` say what was absent or computed.
 */
export function gkeEventOfEntry(entry: unknown, where = 'entry'): { event: AuditEvent } | { skipped: Skipped } {
  if (!isObject(entry)) throw intakeErrors.invalidShape(where, 'expected a Cloud Logging LogEntry object');
  const payload = entry.protoPayload;
  if (!isObject(payload) || payload['@type'] !== GKE_AUDIT_LOG_TYPE || payload.serviceName !== GKE_K8S_SERVICE) {
    return { skipped: { where, reason: 'not-k8s-audit' } };
  }
  const methodName = payload.methodName;
  if (typeof methodName !== 'string')
    throw intakeErrors.invalidShape(`${where}.protoPayload.methodName`, 'required string');
  const method = parseGkeMethod(methodName);
  const resourceName = payload.resourceName;
  if (!method) return { skipped: { where, reason: 'non-resource' } };
  if (typeof resourceName !== 'string')
    throw intakeErrors.invalidShape(`${where}.protoPayload.resourceName`, 'required string');
  const objectRef = gkeObjectRef(resourceName, method);
  if (!objectRef)
    throw intakeErrors.invalidShape(
      `${where}.protoPayload.resourceName`,
      `${JSON.stringify(resourceName)} does not name the ${method.resource} of ${methodName}`,
    );
  if (typeof entry.insertId !== 'string' || entry.insertId === '')
    throw intakeErrors.invalidShape(`${where}.insertId`, 'required string (the audit ID is derived from it)');

  const request = bodyOf(payload.request);
  const response = bodyOf(payload.response);
  const { status, derived: codeDerived } = responseStatusOf(payload, method.verb, response);
  const auth = isObject(payload.authenticationInfo) ? payload.authenticationInfo : {};
  const username =
    typeof auth.principalEmail === 'string'
      ? auth.principalEmail
      : typeof auth.principalSubject === 'string'
        ? auth.principalSubject
        : undefined;
  const meta = isObject(payload.requestMetadata) ? payload.requestMetadata : {};
  // One entry per request, written when it completed. `operation.first` / `last` cannot tell a
  // stage: a documented single entry of a finished get carries `first: true` and no `last`, and
  // reading that as ResponseStarted would make the filter drop every such write.
  const stage = 'ResponseComplete';
  const time = entry.timestamp;

  const labels = stringMap(entry.labels);
  const decision = labels['authorization.k8s.io/decision'] ?? decisionOf(payload);
  const bodies = response && request ? 'request-response' : response ? 'response' : request ? 'request' : 'absent';
  const derived = [
    'auditID',
    'requestURI',
    'stage',
    'requestReceivedTimestamp',
    ...(codeDerived ? ['responseStatus.code'] : []),
  ];

  const event: AuditEvent = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: response ? 'RequestResponse' : request ? 'Request' : 'Metadata',
    auditID: entry.insertId,
    stage,
    requestURI: requestUriOf(objectRef, method.verb),
    verb: method.verb,
    user: username !== undefined ? { username } : {},
    ...(typeof meta.callerIp === 'string' ? { sourceIPs: [meta.callerIp] } : {}),
    ...(typeof meta.callerSuppliedUserAgent === 'string' ? { userAgent: meta.callerSuppliedUserAgent } : {}),
    objectRef,
    responseStatus: status,
    ...(request ? { requestObject: request } : {}),
    ...(response ? { responseObject: response } : {}),
    ...(time !== undefined ? { requestReceivedTimestamp: time as string, stageTimestamp: time as string } : {}),
    annotations: { ...labels, ...(decision ? { 'authorization.k8s.io/decision': decision } : {}) },
  };
  const checked = admitConverted(event, where);
  return {
    event: withAnnotations(checked, 'gke', { [BODIES_ANNOTATION]: bodies, [DERIVED_ANNOTATION]: derived.join(',') }),
  };
}

/**
 * Reads a whole export of GKE LogEntries (for `crtrail replay`): NDJSON (a Cloud Storage sink's
 * files) or a JSON array (`gcloud logging read --format=json`), gzip'd or not. Tolerant like
 * {@link readAksExport}: bad entries are listed in `rejected`.
 */
export function readGkeExport(content: Uint8Array | string, maxInflatedBytes = DEFAULT_MAX_INFLATED_BYTES): ExportRead {
  const text = exportText(content, maxInflatedBytes);
  const events: AuditEvent[] = [];
  const skipped: Skipped[] = [];
  const rejected: Rejected[] = [];
  const one = (value: () => unknown, where: string): void => {
    try {
      const out = gkeEventOfEntry(value(), where);
      if ('event' in out) events.push(out.event);
      else skipped.push(out.skipped);
    } catch (err) {
      if (!(err instanceof IntakeError)) throw err;
      rejected.push({ where, reason: err.message });
    }
  };
  if (text.trimStart().startsWith('[')) {
    const all = parseJson(text, 'file');
    if (!Array.isArray(all)) throw intakeErrors.invalidShape('file', 'expected a JSON array of LogEntry objects');
    all.forEach((e, i) => one(() => e, `[${i}]`));
  } else {
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() !== '') one(() => parseJson(line, `line ${i + 1}`), `line ${i + 1}`);
    });
  }
  return { events, skipped, rejected };
}
