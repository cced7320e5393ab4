import { isObject, type AuditEvent } from '@crtrail/audit';
import { eksEventsOfRecord } from './cloudwatch.js';
import { DEFAULT_MAX_INFLATED_BYTES, decodeBase64, gunzipBounded, parseJson } from './decode.js';
import { intakeErrors, refusalOf } from './errors.js';
import type { Skipped } from './result.js';
import { SecretSet } from './secrets.js';

/*
 * Amazon Data Firehose "HTTP endpoint delivery request and response specifications" (protocol
 * version 1.0): a POST with `X-Amz-Firehose-Request-Id`, `X-Amz-Firehose-Access-Key` (the key
 * configured on the stream, copied verbatim, up to 4096 bytes), `Content-Encoding: gzip` when the
 * stream compresses, and a JSON body {requestId, timestamp, records: [{data: base64}]} of 1 to
 * 10,000 records, up to 64 MiB before compression. Only a 200 is a delivery; 413 is a permanent
 * failure; every other status is retried with backoff (1 s doubling, capped at 2 min) until the
 * stream's retry duration runs out, then the batch goes to its S3 error bucket. The response must
 * be uncompressed JSON {requestId (the request's), timestamp (ms), errorMessage (on failure)}.
 */

/** Request headers, lower-cased names (as Node and fastify give them). */
export type IntakeHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** The documented request body. */
export interface FirehoseRequestBody {
  requestId: string;
  timestamp?: number;
  records: Array<{ data: string }>;
}

/** The documented response body. */
export interface FirehoseResponseBody {
  requestId: string;
  timestamp: number;
  errorMessage?: string;
}

/** What a Firehose route needs to know. */
export interface FirehoseOptions {
  /** The access keys configured on the delivery streams allowed to send (any one matches). */
  accessKeys: readonly string[];
  /** Bound on the decompressed request and on each decompressed record (default 64 MiB). */
  maxInflatedBytes?: number;
}

/** One Firehose request as a route sees it. */
export interface FirehoseRequest {
  headers: IntakeHeaders;
  /** The raw body: the route must not parse it (it may be gzip'd). */
  body: Uint8Array | string;
}

/** A delivery decoded: its audit events, what was skipped, and the requestId to answer with. */
export interface FirehoseDelivery {
  requestId: string;
  events: AuditEvent[];
  skipped: Skipped[];
}

const FIREHOSE_MAX_RECORDS = 10_000;

const header = (headers: IntakeHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : (v as string | undefined);
};

/** A checker of `X-Amz-Firehose-Access-Key` against the configured keys, in constant time. */
export function firehoseAccessCheck(accessKeys: readonly string[]): (headers: IntakeHeaders) => void {
  if (accessKeys.length === 0) throw new Error('firehose intake: at least one access key must be configured');
  const keys = new SecretSet(accessKeys);
  return (headers) => {
    const presented = header(headers, 'x-amz-firehose-access-key');
    if (presented === undefined || presented === '')
      throw intakeErrors.unauthorized('X-Amz-Firehose-Access-Key is missing');
    if (!keys.has(presented)) throw intakeErrors.forbidden('X-Amz-Firehose-Access-Key does not match a configured key');
  };
}

/**
 * Decodes a Firehose request body (after the access check): inflates it when
 * `Content-Encoding: gzip`, checks the documented shape, and decodes every record as a CloudWatch
 * Logs subscription payload of EKS audit events. The first bad part throws an {@link IntakeError}
 * naming it (`records[3].data: not valid base64`); nothing of such a request may be enqueued.
 */
export function decodeFirehoseDelivery(
  request: FirehoseRequest,
  maxInflatedBytes = DEFAULT_MAX_INFLATED_BYTES,
): FirehoseDelivery {
  const encoding = (header(request.headers, 'content-encoding') ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip') throw intakeErrors.unsupportedEncoding(encoding);
  const raw = typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : request.body;
  const bytes = encoding === 'gzip' ? gunzipBounded(raw, 'body', maxInflatedBytes) : raw;
  const body = parseJson(bytes, 'body');
  if (!isObject(body))
    throw intakeErrors.invalidShape('body', 'expected a Firehose request object {requestId, timestamp, records}');
  if (typeof body.requestId !== 'string' || body.requestId === '')
    throw intakeErrors.invalidShape('body.requestId', 'required string');
  if (body.timestamp !== undefined && !Number.isInteger(body.timestamp))
    throw intakeErrors.invalidShape('body.timestamp', 'must be an integer (ms since epoch)');
  const records = body.records;
  if (!Array.isArray(records) || records.length === 0)
    throw intakeErrors.invalidShape('body.records', 'required, 1 or more records');
  if (records.length > FIREHOSE_MAX_RECORDS)
    throw intakeErrors.invalidShape('body.records', `at most ${FIREHOSE_MAX_RECORDS} records`);
  const events: AuditEvent[] = [];
  const skipped: Skipped[] = [];
  records.forEach((record, i) => {
    const where = `records[${i}]`;
    if (!isObject(record)) throw intakeErrors.invalidShape(where, 'expected {data: base64}');
    const out = eksEventsOfRecord(decodeBase64(record.data, `${where}.data`), where, maxInflatedBytes);
    events.push(...out.events);
    skipped.push(...out.skipped);
  });
  return { requestId: body.requestId, events, skipped };
}

/**
 * The documented response body: `{requestId, timestamp}` on success, plus `errorMessage` on
 * failure (at most 8192 characters, as the spec allows; Firehose copies it to its error bucket).
 */
export function firehoseResponse(
  requestId: string,
  errorMessage?: string,
  now: () => number = Date.now,
): FirehoseResponseBody {
  return {
    requestId,
    timestamp: now(),
    ...(errorMessage !== undefined ? { errorMessage: errorMessage.slice(0, 8192) } : {}),
  };
}

/** What a route sends back: status, headers, the Firehose response body. */
export interface IntakeReply<B> {
  status: number;
  headers: Record<string, string>;
  body: B;
  /** The refusal behind a status other than 200, for the route's logs and metrics (never sent as is). */
  error?: Error;
}

/**
 * Where converted events go: the webhook's BatchSink (admit = filter + redact, then durable
 * enqueue). It resolves only once the events are durable; a rejection carrying `statusCode` (429,
 * 503 from the queue's backpressure) is answered with that status, anything else with 500.
 */
export type EventSink = (events: AuditEvent[]) => Promise<unknown>;

/**
 * The whole Firehose route, ready to mount at `POST /intake/firehose/:cluster` (the route binds
 * the cluster into `deliver`): access check, decoding, delivery to the sink, and the documented
 * response, 200 only after the sink resolved. A delivery with no audit events (control messages
 * only) is answered 200 without calling the sink.
 */
export function firehoseHandler(
  options: FirehoseOptions,
): (
  request: FirehoseRequest,
  deliver: EventSink,
) => Promise<IntakeReply<FirehoseResponseBody> & { delivery?: FirehoseDelivery }> {
  const check = firehoseAccessCheck(options.accessKeys);
  return async (request, deliver) => {
    // The spec: the response's requestId must match the request's; before the body is read (a
    // 401, a bad gzip) the header carries the same id.
    let requestId = header(request.headers, 'x-amz-firehose-request-id') ?? '';
    const json = { 'content-type': 'application/json' };
    try {
      check(request.headers);
      const delivery = decodeFirehoseDelivery(request, options.maxInflatedBytes);
      requestId = delivery.requestId;
      if (delivery.events.length > 0) await deliver(delivery.events);
      return { status: 200, headers: json, body: firehoseResponse(requestId), delivery };
    } catch (err) {
      const { status, headers, message, error } = refusalOf(err, json, 'internal error; the delivery will be retried');
      return { status, headers, body: firehoseResponse(requestId, message), error };
    }
  };
}
