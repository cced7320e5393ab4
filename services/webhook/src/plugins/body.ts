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
 * Parsed from the raw bytes: decoding them as a string first would turn invalid UTF-8 into U+FFFD
 * silently, and store (and hash) text the apiserver never sent. isUtf8 is a SIMD scan (~0.1 ms per MB).
 * `__proto__` / `constructor.prototype` keys are a 400, never an object whose prototype an attacker
 * chose: one pass over the bytes ({@link scanJson}) finds the keys that may be one (and the depth,
 * and the items' spans), and only then is the parsed value walked by secure-json-parse's check —
 * instead of its two regular expressions over the whole text on every body.
 */
function parseJson(request: FastifyRequest, bytes: Buffer): unknown {
  let text: string;
  // Most batches are ASCII: then decoding is a plain copy (latin1), about half the cost of UTF-8's.
  if (isAscii(bytes)) text = bytes.toString('latin1');
  else if (isUtf8(bytes)) text = bytes.toString('utf8');
  else throw new errors.CRTRAIL_ERR_INVALID_BATCH(`body: invalid UTF-8 at byte ${invalidUtf8Offset(bytes)}`);
  let parsed: unknown;
  // A BOM is not JSON, but senders add one; it is skipped as secure-json-parse did.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new errors.CRTRAIL_ERR_INVALID_JSON((err as Error).message);
  }
  if (typeof parsed !== 'object' || parsed === null) {
    request.bodySource = { bytes, items: undefined };
    return parsed;
  }
  const shape = scanJson(bytes, MAX_JSON_DEPTH);
  // Too deep, the scan stopped early: the prototype check walks the value itself (it has no stack to overflow).
  if (shape.suspectKeys || shape.tooDeep) {
    try {
      sjson.scan(parsed, PROTOTYPE_KEYS);
    } catch (err) {
      throw new errors.CRTRAIL_ERR_INVALID_JSON((err as Error).message);
    }
  }
  if (shape.tooDeep) throw new errors.CRTRAIL_ERR_INVALID_BATCH(`body: nested deeper than ${MAX_JSON_DEPTH} levels`);
  request.bodySource = { bytes, items: shape.items };
  return parsed;
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
        done(null, parseJson(request, raw as Buffer));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
  });
}

export const bodyPlugin = fp(body, { name: 'crtrail-body', fastify: '5.x' });
