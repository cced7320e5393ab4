import { gunzipSync } from 'node:zlib';
import sjson from 'secure-json-parse';
import { intakeErrors } from './errors.js';

/**
 * Firehose caps a request body at 64 MiB before compression; the same bound applies to anything
 * this package inflates, unless the caller sets a smaller one.
 */
export const DEFAULT_MAX_INFLATED_BYTES = 64 * 1024 * 1024;

// RFC 4648 §4 with padding, as the providers write it (Firehose records, Pub/Sub message data).
// Buffer.from(s, 'base64') never fails: it skips what it cannot read, so a damaged record would
// decode to garbage silently. Checked first, the damage is a named 400 instead.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes strict padded base64; `where` names the field in the error. */
export function decodeBase64(value: unknown, where: string): Buffer {
  if (typeof value !== 'string') throw intakeErrors.invalidShape(where, 'must be a base64 string');
  if (!BASE64.test(value)) throw intakeErrors.invalidBase64(where);
  return Buffer.from(value, 'base64');
}

/** `true` when the bytes start with the gzip magic number (RFC 1952 §2.3.1). */
function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Inflates gzip, refusing output beyond `limit` bytes with a 413. */
export function gunzipBounded(bytes: Uint8Array, where: string, limit = DEFAULT_MAX_INFLATED_BYTES): Buffer {
  try {
    return gunzipSync(bytes, { maxOutputLength: limit });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) throw intakeErrors.tooLarge(where, limit);
    throw intakeErrors.invalidGzip(where, e.message);
  }
}

/** The bytes inflated when they are gzip, as they are otherwise. */
export function maybeGunzip(bytes: Uint8Array, where: string, limit = DEFAULT_MAX_INFLATED_BYTES): Buffer {
  return isGzip(bytes)
    ? gunzipBounded(bytes, where, limit)
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** An export file's text: inflated when gzip'd, decoded as UTF-8, without a leading byte-order mark. */
export function exportText(content: Uint8Array | string, limit = DEFAULT_MAX_INFLATED_BYTES): string {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  return maybeGunzip(bytes, 'file', limit)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
}

/**
 * Parses JSON as the webhook does (secure-json-parse): a `__proto__` or `constructor.prototype`
 * key is refused rather than passed on to code that merges objects.
 */
export function parseJson(text: string | Uint8Array, where: string): unknown {
  const s =
    typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
  try {
    return sjson.parse(s.charCodeAt(0) === 0xfeff ? s.slice(1) : s, undefined, {
      protoAction: 'error',
      constructorAction: 'error',
    });
  } catch (err) {
    throw intakeErrors.invalidJson(where, (err as Error).message);
  }
}
