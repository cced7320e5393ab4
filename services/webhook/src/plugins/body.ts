import { isAscii, isUtf8 } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import sjson from 'secure-json-parse';
import { errors } from '../errors.js';
import { BodyBudget } from './body-budget.js';
import { scanJson, type ItemSpans } from './json-shape.js';
import { invalidUtf8Offset } from './utf8.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The bytes the JSON body was parsed from and where each item of its `items` array lies in
     * them: a kept audit event is written to its job as those bytes, not serialized again.
     * Undefined when no body was parsed.
     */
    bodySource: BodySource | undefined;
    /** Bytes this request holds of the {@link BodyBudget} until its response is sent. */
    bodyBudgetBytes: number;
  }
}

/** A parsed body's bytes, and the spans of its root `items` array's elements in them (see `scanJson`). */
export interface BodySource {
  bytes: Buffer;
  items: ItemSpans | undefined;
}

/** Deeper JSON than any Kubernetes object: a 400, before anything recursive (redaction, the worker's diff) sees it. */
export const MAX_JSON_DEPTH = 128;

/** `application/json` and any `application/<x>+json`: nothing else is parsed (a 415). */
export const JSON_TYPES = /^application\/([a-z0-9.+-]*\+)?json$/;

/** secure-json-parse's own check of a parsed value: throws on a `__proto__` key or a `constructor` with a `prototype`. */
const PROTOTYPE_KEYS = { protoAction: 'error', constructorAction: 'error' } as const;

/**
 * A JSON body's value and its bytes (with its items' spans), or a webhook error (400) saying why
 * not. Parsed from the raw bytes: decoding them as a string first would turn invalid UTF-8 into U+FFFD
 * silently, and store (and hash) text the apiserver never sent. isUtf8 is a SIMD scan (~0.1 ms per MB).
 * `__proto__` / `constructor.prototype` keys are a 400, never an object whose prototype an attacker
 * chose: one pass over the bytes ({@link scanJson}) finds the keys that may be one (and the depth,
 * and the items' spans), and only then is the parsed value walked by secure-json-parse's check —
 * instead of its two regular expressions over the whole text on every body.
 */
export function parseBody(bytes: Buffer): { value: unknown; source: BodySource } {
  // Most batches are ASCII: then decoding is a plain copy (latin1), about half the cost of UTF-8's.
  const ascii = isAscii(bytes);
  if (!ascii && !isUtf8(bytes))
    throw new errors.CRTRAIL_ERR_INVALID_BATCH(`body: invalid UTF-8 at byte ${invalidUtf8Offset(bytes)}`);
  const encoding = ascii ? 'latin1' : 'utf8';
  const shape = scanJson(bytes, MAX_JSON_DEPTH);
  const itemwise = !shape.broken && !shape.tooDeep && bytes.length <= ITEMWISE_MAX_BYTES;
  const { value } = (itemwise && parseByItems(bytes, shape.items, encoding)) || parseWhole(bytes, encoding);
  if (typeof value !== 'object' || value === null) return { value, source: { bytes, items: undefined } };
  // Too deep, the scan stopped early: the prototype check walks the value itself (it has no stack to overflow).
  if (shape.suspectKeys || shape.tooDeep) {
    try {
      sjson.scan(value, PROTOTYPE_KEYS);
    } catch (err) {
      throw new errors.CRTRAIL_ERR_INVALID_JSON((err as Error).message);
    }
  }
  if (shape.tooDeep) throw new errors.CRTRAIL_ERR_INVALID_BATCH(`body: nested deeper than ${MAX_JSON_DEPTH} levels`);
  return { value, source: { bytes, items: shape.items } };
}

/**
 * Bodies up to this size are parsed item by item ({@link parseByItems}), bigger ones whole. A 20 MB
 * body's item texts, allocated young by the hundreds, fill the young generation and push the parsed
 * items into the old one sooner than one large text that is dropped at once: with 3 × 20 MB batches
 * at once the webhook's peak RSS was 269–273 MB item by item against 229–250 MB whole (3 rounds
 * each in one quarter hour; that figure spreads widely, bench/ANALYSIS.md), while what item by item
 * saves (the large text's pages) matters little beside such a body.
 */
export const ITEMWISE_MAX_BYTES = 4 * 1024 * 1024;

/** A BOM is not JSON, but senders add one; it is skipped as secure-json-parse did. */
const withoutBom = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);

/** The whole body as one text, parsed: what JSON.parse says of it, a 400 naming the error if it refuses it. */
function parseWhole(bytes: Buffer, encoding: 'latin1' | 'utf8'): { value: unknown } {
  try {
    return { value: JSON.parse(withoutBom(bytes.toString(encoding))) };
  } catch (err) {
    throw new errors.CRTRAIL_ERR_INVALID_JSON((err as Error).message);
  }
}

/**
 * An EventList parsed item by item: the body without its root `items` array's contents, then each
 * item from its own span, put back together; undefined if any piece is not JSON (then the body is
 * parsed whole, and refused as it always was). The same value as JSON.parse of the whole text:
 * the pieces are the text itself cut at the array's brackets and at the commas between its items,
 * with nothing but whitespace around them (see `scanJson`), and a JSON value parses the same
 * wherever it stands. Why: one text of a whole 0.5–20 MB body is a large object V8 allocates in
 * pages of its own, copied from the bytes and faulted in page by page, and promoted to the old
 * generation whenever a young collection happens while it is parsed; the items' texts are small
 * young objects. Webhook alone, saturated, 3 alternated rounds: main thread 2.5–2.8 against 3.3–3.5
 * ms per 400-event batch, minor page faults 0–11 against 124–141 per batch (bench/ANALYSIS.md).
 */
function parseByItems(
  bytes: Buffer,
  items: ItemSpans | undefined,
  encoding: 'latin1' | 'utf8',
): { value: unknown } | undefined {
  if (!items || items.spans.length === 0) return undefined;
  const { spans } = items;
  let root: unknown;
  try {
    // The `[` and `]` are kept: the root as it is with an empty `items`.
    root = JSON.parse(
      withoutBom(bytes.toString(encoding, 0, items.open + 1) + bytes.toString(encoding, items.close, bytes.length)),
    );
  } catch {
    return undefined;
  }
  const list = (root as { items?: unknown } | null)?.items;
  if (!Array.isArray(list) || list.length !== 0) return undefined;
  const parsed = new Array<unknown>(spans.length / 2);
  for (let i = 0; i < spans.length; i += 2) {
    try {
      parsed[i / 2] = JSON.parse(bytes.toString(encoding, spans[i], spans[i + 1]));
    } catch {
      return undefined;
    }
  }
  (root as { items: unknown[] }).items = parsed;
  return { value: root };
}

/**
 * How request bodies are read, for every route: gzip or identity, JSON only, well-formed UTF-8,
 * no prototype keys, at most {@link MAX_JSON_DEPTH} deep.
 */
async function body(app: FastifyInstance, options: { bodyLimit: number }): Promise<void> {
  app.decorateRequest('bodySource', undefined);
  app.decorateRequest('bodyBudgetBytes', 0);
  // As much body as one request may send: any single body fits when it is alone.
  const budget = new BodyBudget(options.bodyLimit);
  const release = (request: FastifyRequest): void => {
    const held = request.bodyBudgetBytes;
    request.bodyBudgetBytes = 0;
    if (held > 0) budget.release(held);
  };
  // Held from before parsing until the answer (a stored batch, or its error) is sent, or the client left.
  app.addHook('onResponse', async (request) => release(request));
  app.addHook('onRequestAbort', async (request) => release(request));

  // `Content-Encoding: gzip` is inflated as a stream; Fastify counts the *inflated* bytes against
  // the body limit, so a gzip bomb ends as a 413 after bodyLimit bytes, never inflated in full.
  app.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = String(request.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding === 'identity') {
      // A declared length (the apiserver sends one) takes its room before the body is read: a waiting
      // body stays in the socket instead of in this process. One over the limit is refused unread.
      const declared = Number(request.headers['content-length']);
      if (Number.isSafeInteger(declared) && declared > 0 && declared <= options.bodyLimit) {
        await budget.acquire(declared);
        request.bodyBudgetBytes = declared;
      }
      return payload;
    }
    if (encoding !== 'gzip') throw new errors.CRTRAIL_ERR_UNSUPPORTED_ENCODING(JSON.stringify(encoding));
    const inflated = payload.pipe(createGunzip());
    payload.on('error', (e) => inflated.destroy(e));
    (inflated as unknown as { receivedEncodedLength: number }).receivedEncodedLength = 0;
    payload.on('data', (c: Buffer) => {
      (inflated as unknown as { receivedEncodedLength: number }).receivedEncodedLength += c.length;
    });
    return inflated;
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'buffer' }, (request, raw, done) => {
    const bytes = (raw as Buffer).length;
    // Taken already for a declared length; otherwise (chunked, gzip) now that the size is known.
    const room =
      request.bodyBudgetBytes > 0
        ? Promise.resolve()
        : budget.acquire(bytes).then(() => {
            request.bodyBudgetBytes = bytes;
          });
    void room.then(() => {
      // The client may have gone while this body waited: nothing to answer, the room is given back.
      // (The socket, not the request stream: that one is destroyed as soon as its body was read.)
      if (request.raw.socket?.destroyed === true) {
        release(request);
        done(new errors.CRTRAIL_ERR_INVALID_BATCH('the client closed the connection'), undefined);
        return;
      }
      try {
        const { value, source } = parseBody(raw as Buffer);
        request.bodySource = source;
        done(null, value);
      } catch (err) {
        done(err as Error, undefined);
      }
    });
  });
}

export const bodyPlugin = fp(body, { name: 'crtrail-body', fastify: '5.x' });
