import { z } from 'zod';
import { AUDIT_API_VERSION, type AuditEvent, type EventList } from './types.js';

const stringArray = z.array(z.string());

const userInfo = z
  .object({
    username: z.string().optional(),
    uid: z.string().optional(),
    groups: stringArray.optional(),
    extra: z.record(stringArray).optional(),
  })
  .passthrough();

const objectRef = z
  .object({
    resource: z.string().optional(),
    namespace: z.string().optional(),
    name: z.string().optional(),
    uid: z.string().optional(),
    apiGroup: z.string().optional(),
    apiVersion: z.string().optional(),
    resourceVersion: z.string().optional(),
    subresource: z.string().optional(),
  })
  .passthrough();

/**
 * One audit.k8s.io/v1 Event. Items of a webhook POST usually omit their own kind/apiVersion,
 * so both are optional, but when present they must say Event / audit.k8s.io/v1.
 */
export const eventSchema = z
  .object({
    kind: z.literal('Event').optional(),
    apiVersion: z.literal(AUDIT_API_VERSION).optional(),
    level: z.enum(['None', 'Metadata', 'Request', 'RequestResponse']),
    auditID: z.string().min(1),
    stage: z.enum(['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic']),
    requestURI: z.string(),
    verb: z.string().min(1),
    user: userInfo,
    impersonatedUser: userInfo.nullish(),
    sourceIPs: stringArray.nullish(),
    userAgent: z.string().nullish(),
    objectRef: objectRef.nullish(),
    responseStatus: z.object({ code: z.number().int().optional() }).passthrough().nullish(),
    requestReceivedTimestamp: z.string().nullish(),
    stageTimestamp: z.string().nullish(),
    annotations: z.record(z.string()).nullish(),
  })
  .passthrough();

const eventListHeader = z
  .object({
    kind: z.literal('EventList'),
    apiVersion: z.literal(AUDIT_API_VERSION),
    items: z.array(z.unknown()),
  })
  .passthrough();

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; reason: string };

function describe(error: z.ZodError, prefix: string): string {
  const issue = error.issues[0];
  if (!issue) return `${prefix}: invalid`;
  const path = issue.path.reduce<string>(
    (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : `${acc}.${part}`),
    prefix,
  );
  return `${path}: ${issue.message}`;
}

/** Validates one Event; the reason names the first bad field. The original object is returned as is. */
export function validateEvent(input: unknown, label = 'event'): ValidationResult<AuditEvent> {
  const result = eventSchema.safeParse(input);
  if (!result.success) return { ok: false, reason: describe(result.error, label) };
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
  const header = eventListHeader.safeParse(input);
  if (!header.success) return { ok: false, reason: describe(header.error, 'body') };
  const items = header.data.items;
  for (let i = 0; i < items.length; i++) {
    const item = validateEvent(items[i], `items[${i}]`);
    if (!item.ok) return item;
  }
  return { ok: true, value: input as EventList };
}
