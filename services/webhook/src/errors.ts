import createError from '@fastify/error';
import { CLUSTER_NAME_RULE } from '@crtrail/config';

/** `createError` with its `%s` arguments typed (`Args`), code and status inferred from the call. */
const coded =
  <Args extends unknown[]>() =>
  <C extends string, S extends number>(code: C, message: string, statusCode: S) =>
    createError<C, S, Args>(code, message, statusCode);

/**
 * Every error the webhook answers with, once, with its code and HTTP status (the fastify habit,
 * `lib/errors.js`): routes and plugins throw `new errors.CRTRAIL_ERR_…(args)`, never build a status
 * by hand. The `%s` are filled from the constructor's arguments, in order.
 */
export const errors = {
  CRTRAIL_ERR_INVALID_JSON: coded<[detail: string]>()('CRTRAIL_ERR_INVALID_JSON', 'body is not valid JSON: %s', 400),
  CRTRAIL_ERR_INVALID_BATCH: coded<[reason: string]>()('CRTRAIL_ERR_INVALID_BATCH', '%s', 400),
  /** The argument is the name as given, JSON-quoted (so an empty or spaced name shows). */
  CRTRAIL_ERR_INVALID_CLUSTER: coded<[quotedName: string]>()(
    'CRTRAIL_ERR_INVALID_CLUSTER',
    `cluster name %s: ${CLUSTER_NAME_RULE}`,
    400,
  ),
  CRTRAIL_ERR_UNAUTHORIZED: coded<[reason: string]>()('CRTRAIL_ERR_UNAUTHORIZED', '%s', 401),
  CRTRAIL_ERR_FORBIDDEN: coded<[reason: string]>()('CRTRAIL_ERR_FORBIDDEN', '%s', 403),
  /** The argument is the encoding as sent, JSON-quoted. */
  CRTRAIL_ERR_UNSUPPORTED_ENCODING: coded<[quotedEncoding: string]>()(
    'CRTRAIL_ERR_UNSUPPORTED_ENCODING',
    'content-encoding %s is not supported: send identity or gzip',
    415,
  ),
  CRTRAIL_ERR_QUEUE_FULL: coded<[waiting: number]>()(
    'CRTRAIL_ERR_QUEUE_FULL',
    '%s batches are waiting for the workers; retry later',
    429,
  ),
  /** Arguments: replicas that confirmed, replicas wanted, milliseconds waited. */
  CRTRAIL_ERR_REPLICAS_BEHIND: coded<[acked: number, wanted: number, waitedMs: number]>()(
    'CRTRAIL_ERR_REPLICAS_BEHIND',
    'batch written, but only %s of %s Redis replicas confirmed it within %s ms (CRTRAIL_REDIS_WAIT_REPLICAS); retry later',
    503,
  ),
  CRTRAIL_ERR_QUEUE_UNAVAILABLE: coded<[reason: string]>()(
    'CRTRAIL_ERR_QUEUE_UNAVAILABLE',
    'queue unavailable: %s',
    503,
  ),
} as const;

export type WebhookErrorCode = keyof typeof errors;

/**
 * Response headers a code's status requires: `Retry-After` on what the apiserver should retry (it
 * backs off by it), and RFC 6750's `WWW-Authenticate` naming the scheme with a 401.
 */
const RESPONSE_HEADERS: Partial<Record<WebhookErrorCode, Readonly<Record<string, string>>>> = {
  CRTRAIL_ERR_QUEUE_FULL: { 'retry-after': '5' },
  CRTRAIL_ERR_REPLICAS_BEHIND: { 'retry-after': '5' },
  CRTRAIL_ERR_QUEUE_UNAVAILABLE: { 'retry-after': '10' },
  CRTRAIL_ERR_UNAUTHORIZED: { 'www-authenticate': 'Bearer realm="crtrail"' },
};

/** Whether `err` is one of {@link errors} (and so carries a code and a status of ours). */
export function isWebhookError(err: unknown): err is Error & { code: WebhookErrorCode; statusCode: number } {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && Object.hasOwn(errors, code) && err instanceof errors[code as WebhookErrorCode];
}

/** The headers a webhook error's response carries (none for most). */
export function responseHeadersOf(code: WebhookErrorCode): Readonly<Record<string, string>> {
  return RESPONSE_HEADERS[code] ?? {};
}
