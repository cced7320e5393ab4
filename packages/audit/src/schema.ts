import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parsePointer } from './pointer.js';
import { AUDIT_API_VERSION, type AuditEvent, type EventList } from './types.js';

/*
 * One JSON Schema of audit.k8s.io/v1, compiled once. A compiled validator only reads its input:
 * the webhook validates every item of every 400-event batch before acking it, and the earlier
 * schema library copied each item while checking it (measured: 3.0 ms of a 468 KB batch's 6.3 ms
 * of parse + validate).
 */
const stringArray = { type: 'array', items: { type: 'string' } } as const;

/*
 * Every field the Elasticsearch mapping types (packages/store/src/mapping.ts) is typed here too: a
 * batch acked with a `stageTimestamp` Elasticsearch cannot parse as a date, or a `responseStatus.code`
 * of "200", would be refused by Elasticsearch only later, in the worker, after the apiserver was told
 * it is safe. Refused at the door instead, with the field named, the sender can see and fix it.
 */

/**
 * RFC 3339 date-time as Kubernetes writes metav1.MicroTime (`2026-01-02T03:04:05.123456Z`) and as
 * Elasticsearch's `strict_date_optional_time` reads it: upper-case T, 1–9 fraction digits, Z or a
 * ±hh:mm offset, a real calendar date (no 2026-02-30), no leap second (Elasticsearch refuses :60).
 */
const RFC3339 =
  /^\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;
function isRfc3339(value: string): boolean {
  // test() and the digits read in place: no match array and no substrings per timestamp.
  if (!RFC3339.test(value)) return false;
  const y = digits(value, 0, 4);
  const mo = digits(value, 5, 2);
  const d = digits(value, 8, 2);
  if (mo < 1 || mo > 12 || d < 1) return false;
  return d <= daysInMonth(y, mo);
}

/** The decimal number of the `length` ASCII digits at `at` (the pattern has checked they are digits). */
function digits(value: string, at: number, length: number): number {
  let n = 0;
  for (let i = at; i < at + length; i++) n = n * 10 + value.charCodeAt(i) - 48;
  return n;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Days in month `mo` (1–12) of year `y`, computed: two timestamps per event, 800 per batch, made a
 * Date each before (a third of the batch's validation time). Years 0–99 are leap or not as
 * 1900–1999 are, as `Date.UTC` (which maps them there) decided before.
 */
function daysInMonth(y: number, mo: number): number {
  if (mo !== 2) return DAYS_IN_MONTH[mo - 1]!;
  const year = y <= 99 ? 1900 + y : y;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}
const timestamp = { type: 'string', format: 'rfc3339' } as const;
/** Elasticsearch `integer`: a 32-bit signed whole number. */
const int32 = { type: 'integer', minimum: -2147483648, maximum: 2147483647 } as const;
const nullable = <T extends object>(schema: T) => ({ anyOf: [{ type: 'null' }, schema] });

const userInfo = {
  type: 'object',
  properties: {
    username: { type: 'string' },
    uid: { type: 'string' },
    groups: stringArray,
    extra: { type: 'object', additionalProperties: stringArray },
  },
} as const;

const objectRef = {
  type: 'object',
  properties: Object.fromEntries(
    ['resource', 'namespace', 'name', 'uid', 'apiGroup', 'apiVersion', 'resourceVersion', 'subresource'].map((k) => [
      k,
      { type: 'string' },
    ]),
  ),
} as const;

/**
 * One Event. Items of a webhook POST usually omit their own kind/apiVersion, so both are optional,
 * but when present they must say Event / audit.k8s.io/v1. Unknown fields are allowed (newer
 * apiservers add some).
 */
const eventJsonSchema = {
  type: 'object',
  required: ['level', 'auditID', 'stage', 'requestURI', 'verb', 'user'],
  properties: {
    kind: { const: 'Event' },
    apiVersion: { const: AUDIT_API_VERSION },
    level: { enum: ['None', 'Metadata', 'Request', 'RequestResponse'] },
    auditID: { type: 'string', minLength: 1 },
    stage: { enum: ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] },
    requestURI: { type: 'string' },
    verb: { type: 'string', minLength: 1 },
    user: userInfo,
    impersonatedUser: nullable(userInfo),
    sourceIPs: nullable(stringArray),
    userAgent: nullable({ type: 'string' }),
    objectRef: nullable(objectRef),
    responseStatus: nullable({
      type: 'object',
      properties: { code: int32, status: { type: 'string' }, reason: { type: 'string' }, message: { type: 'string' } },
    }),
    requestReceivedTimestamp: nullable(timestamp),
    stageTimestamp: nullable(timestamp),
    annotations: nullable({ type: 'object', additionalProperties: { type: 'string' } }),
  },
} as const;

const eventListHeaderSchema = {
  type: 'object',
  required: ['kind', 'apiVersion', 'items'],
  properties: {
    kind: { const: 'EventList' },
    apiVersion: { const: AUDIT_API_VERSION },
    items: { type: 'array' },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: true });
ajv.addFormat('rfc3339', { type: 'string', validate: isRfc3339 });
const checkEvent: ValidateFunction = ajv.compile(eventJsonSchema);
const checkHeader: ValidateFunction = ajv.compile(eventListHeaderSchema);

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** `items[3].user.groups[0]: must be string` — the path of the first bad field, as a user reads it. */
function describe(errors: ErrorObject[] | null | undefined, prefix: string): string {
  // A nullable field reports its `null` branch, its value branch and the `anyOf`: the value
  // branch's deepest error is the one that explains what is wrong.
  const useful = (errors ?? []).filter(
    (e) => e.keyword !== 'anyOf' && !(e.keyword === 'type' && (e.params as { type?: string }).type === 'null'),
  );
  const error =
    useful.reduce<ErrorObject | undefined>(
      (best, e) => (!best || e.instancePath.length > best.instancePath.length ? e : best),
      undefined,
    ) ?? errors?.[0];
  if (!error) return `${prefix}: invalid`;
  let path = prefix;
  for (const key of parsePointer(error.instancePath)) {
    path += /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
  }
  switch (error.keyword) {
    case 'required':
      return `${path}.${(error.params as { missingProperty: string }).missingProperty}: required`;
    case 'const':
      return `${path}: must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
    case 'format':
      return `${path}: must be an RFC 3339 timestamp (e.g. 2026-01-02T03:04:05.123456Z)`;
    case 'enum':
      return `${path}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    default:
      return `${path}: ${error.message ?? 'invalid'}`;
  }
}

/** Validates one Event; the reason names the first bad field. The original object is returned as is. */
export function validateEvent(input: unknown, label = 'event'): ValidationResult<AuditEvent> {
  if (!checkEvent(input)) return { ok: false, reason: describe(checkEvent.errors, label) };
  return { ok: true, value: input as AuditEvent };
}

/**
 * Validates an audit.k8s.io/v1 EventList as the apiserver's webhook backend sends it.
 * Stops at the first bad item and names it (`items[3].stage: ...`), so a rejected batch is
 * explained in one line. The input object itself is returned (no copy) to keep large batches cheap.
 */
export function validateEventList(input: unknown): ValidationResult<EventList> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, reason: 'body: expected an audit.k8s.io/v1 EventList object' };
  }
  if (!checkHeader(input)) return { ok: false, reason: describe(checkHeader.errors, 'body') };
  const items = (input as { items: unknown[] }).items;
  for (let i = 0; i < items.length; i++) {
    const item = validateEvent(items[i], `items[${i}]`);
    if (!item.ok) return item;
  }
  return { ok: true, value: input as EventList };
}
