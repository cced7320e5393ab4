/**
 * One pass over the bytes of a JSON text, for what a parsed value does not tell cheaply: how deep it
 * nests, whether a key may be `__proto__`/`constructor`, and where each item of the root object's
 * `items` array lies in the bytes — so a kept audit event can go into its job as the bytes the
 * apiserver sent instead of being serialized again (that serialization and its conversion back to
 * bytes were ~30 % of the webhook's CPU per batch), and so the body can be parsed item by item
 * (`plugins/body.ts`). The scan does not check syntax: on a text JSON.parse would refuse it says
 * `broken` when it meets what no JSON text has (a string left open, a bracket closing what it did
 * not open), and otherwise its findings mean nothing until JSON.parse accepted the text's pieces.
 */

/** What {@link scanJson} found. */
export interface JsonShape {
  /** Nesting went beyond the limit (the scan stopped there; nothing else is filled in). */
  tooDeep: boolean;
  /** Certainly not JSON (a string left open, a bracket closing what it did not open): nothing else is filled in. */
  broken: boolean;
  /**
   * Some object key is, or may be after unescaping, `__proto__` or `constructor`: the parsed
   * value must be checked (secure-json-parse's `scan`). A string value that reads so counts too.
   */
  suspectKeys: boolean;
  /**
   * For the root object's `items` array (the last one, as JSON.parse keeps the last of duplicate
   * keys), per element: its byte span `[start, end)`. Undefined when the root is not an object
   * with an `items` array.
   */
  items: ItemSpans | undefined;
}

/** Byte spans of the elements of an array, and which of them may not be reused as they are. */
export interface ItemSpans {
  /** Byte offsets of the array's `[` and of its `]`. */
  open: number;
  close: number;
  /** Start of element i at 2i, end (exclusive) at 2i + 1. */
  spans: number[];
  /**
   * How many object keys each element's text holds, nested ones included. Its parsed value holds
   * fewer only when a key repeats in one object (JSON.parse keeps the last): the text then carries
   * a value the parsed event does not — one redaction never saw —, so it is not reused.
   */
  keys: number[];
  /**
   * Elements holding a number whose value JSON.stringify would not give back the same way (`-0`,
   * an exponent that may overflow to Infinity, hundreds of digits): they are re-serialized, so the
   * job says what the parsed event says. Conservative: `-0.5` and `1e3` count too.
   */
  reserialize: Set<number>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
/** No float64 reaches Infinity with fewer integer digits than this (1.8e308 has 309). */
const MAX_PLAIN_NUMBER_LENGTH = 300;

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Whether the string token at `[start, end]` (its quotes included) may decode to one of the prototype keys. */
function suspectString(b: Uint8Array, start: number, end: number, escaped: boolean): boolean {
  const length = end - start - 1;
  if (!escaped) {
    if (length === 9)
      return b[start + 1] === 0x5f && b[start + 2] === 0x5f && latin1(b, start + 1, end) === '__proto__';
    if (length === 11) return b[start + 1] === 0x63 && latin1(b, start + 1, end) === 'constructor';
    return false;
  }
  // Escapes are rare in keys: decode and compare (`\u005f_proto__` is `__proto__` to JSON.parse).
  if (length < 9) return false;
  const text = decodeToken(b, start, end);
  return text === '__proto__' || text === 'constructor';
}

function latin1(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** The key of the root object at `[start, end]` (quotes included) is `items`. */
function isItemsKey(b: Uint8Array, start: number, end: number, escaped: boolean): boolean {
  if (!escaped) {
    return (
      end - start === 6 &&
      b[start + 1] === 0x69 &&
      b[start + 2] === 0x74 &&
      b[start + 3] === 0x65 &&
      b[start + 4] === 0x6d &&
      b[start + 5] === 0x73
    );
  }
  return decodeToken(b, start, end) === 'items';
}

/** Thrown inside {@link scanJson} when the text cannot be JSON. */
class Broken extends Error {}

/** The string token at `[start, end]` (quotes included), decoded as JSON.parse decodes it. */
function decodeToken(b: Uint8Array, start: number, end: number): string {
  try {
    return JSON.parse(Buffer.from(b.buffer, b.byteOffset + start, end - start + 1).toString('utf8')) as string;
  } catch {
    throw new Broken();
  }
}

/** Index of the first non-whitespace byte at or after `i`. */
function skipSpace(b: Uint8Array, i: number): number {
  while (i < b.length && isSpace(b[i]!)) i++;
  return i;
}

/** End (exclusive) of the value that ends before the separator at `i`, whitespace trimmed. */
function trimBack(b: Uint8Array, i: number): number {
  while (isSpace(b[i - 1]!)) i--;
  return i;
}

/**
 * Scans `b` (a JSON text JSON.parse accepted). `maxDepth`: the deepest nesting of objects and
 * arrays allowed, the root counting as 1.
 */
export function scanJson(b: Uint8Array, maxDepth: number): JsonShape {
  try {
    return scan(b, maxDepth);
  } catch (err) {
    if (err instanceof Broken) return { tooDeep: false, broken: true, suspectKeys: false, items: undefined };
    throw err;
  }
}

function scan(b: Uint8Array, maxDepth: number): JsonShape {
  const n = b.length;
  let depth = 0;
  let suspectKeys = false;
  // The root object's keys: the next string at depth 1 after `{` or `,` is one.
  let rootKeyNext = false;
  let lastRootKeyIsItems = false;
  // Inside the `items` array: its depth (its elements start at this level), or -1.
  let itemsDepth = -1;
  let items: ItemSpans | undefined;
  let itemStart = -1;
  let itemReserialize = false;
  // Every `:` outside a string ends a key: the count at an item's start and end gives its keys.
  let colons = 0;
  let itemColons = 0;
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === QUOTE) {
      const start = i;
      let escaped = false;
      for (i++; ; i++) {
        if (i >= n) throw new Broken();
        const d = b[i];
        if (d === QUOTE) break;
        if (d === BACKSLASH) {
          escaped = true;
          i++;
        }
      }
      if (depth === 1 && rootKeyNext) {
        rootKeyNext = false;
        lastRootKeyIsItems = isItemsKey(b, start, i, escaped);
        if (lastRootKeyIsItems) items = undefined;
      }
      if (!suspectKeys && (escaped || i - start === 10 || i - start === 12) && suspectString(b, start, i, escaped)) {
        // Only a key can set a prototype; a string value that reads so is left alone.
        suspectKeys = b[skipSpace(b, i + 1)] === COLON;
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
      if (depth > maxDepth) return { tooDeep: true, broken: false, suspectKeys, items: undefined };
      if (depth === 1) rootKeyNext = c === OPEN_OBJECT;
      else if (depth === 2 && c === OPEN_ARRAY && lastRootKeyIsItems && itemsDepth === -1) {
        lastRootKeyIsItems = false;
        itemsDepth = 2;
        items = { open: i, close: -1, spans: [], keys: [], reserialize: new Set() };
        const first = skipSpace(b, i + 1);
        itemStart = b[first] === CLOSE_ARRAY ? -1 : first;
        itemReserialize = false;
        itemColons = colons;
      }
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth === itemsDepth && items) {
        // The items array closed by a `}`: not JSON (other brackets are JSON.parse's to check).
        if (c !== CLOSE_ARRAY) throw new Broken();
        if (itemStart >= 0) endItem(items, itemStart, trimBack(b, i), itemReserialize, colons - itemColons);
        items.close = i;
        itemsDepth = -1;
      }
      if (depth === 0) throw new Broken();
      depth--;
    } else if (c === COMMA) {
      if (depth === 1) rootKeyNext = true;
      else if (depth === itemsDepth && items) {
        endItem(items, itemStart, trimBack(b, i), itemReserialize, colons - itemColons);
        itemStart = skipSpace(b, i + 1);
        itemReserialize = false;
        itemColons = colons;
      }
    } else if (c === COLON) {
      colons++;
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      // A number: kept as sent unless its value could read differently once re-serialized.
      const start = i;
      let odd = c === MINUS && b[i + 1] === ZERO;
      for (; i + 1 < n; i++) {
        const d = b[i + 1]!;
        if (d === LOWER_E || d === UPPER_E) odd = true;
        else if (!((d >= ZERO && d <= NINE) || d === 0x2e || d === 0x2b || d === MINUS)) break;
      }
      if (i + 1 - start > MAX_PLAIN_NUMBER_LENGTH) odd = true;
      if (odd) itemReserialize = true;
    }
    // Anything else (`:`, whitespace, the letters of true/false/null) changes nothing tracked here.
  }
  if (depth !== 0) throw new Broken();
  return { tooDeep: false, broken: false, suspectKeys, items };
}

function endItem(items: ItemSpans, start: number, end: number, reserialize: boolean, keys: number): void {
  if (reserialize) items.reserialize.add(items.spans.length / 2);
  items.spans.push(start, end);
  items.keys.push(keys);
}

/**
 * How many object keys a parsed JSON value holds, nested ones included (compared with
 * {@link ItemSpans.keys}). Recursive: only called on values the scan found at most `maxDepth` deep.
 */
export function countKeys(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let n = 0;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) n += countKeys(value[i]);
    return n;
  }
  for (const k in value) n += 1 + countKeys((value as Record<string, unknown>)[k]);
  return n;
}
