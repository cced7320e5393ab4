import { parsePointer } from '@crtrail/audit';
import { deepEqual, isPlainObject } from './ops.js';

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * Sets an own property even for `__proto__`: patch documents come from clients, and a plain
 * assignment of that key would replace the object's prototype instead of adding a field.
 */
function setOwn(o: Record<string, unknown>, k: string, value: unknown): void {
  Object.defineProperty(o, k, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * RFC 7386 JSON merge patch: objects merge recursively, `null` deletes a member, anything else
 * (arrays included) replaces. Returns a new value; `target` is not modified.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const result: Record<string, unknown> = {};
  if (isPlainObject(target)) for (const k of Object.keys(target)) setOwn(result, k, target[k]);
  for (const k of Object.keys(patch)) {
    const v = patch[k];
    // RFC 7386: `null` removes the member the client named, whichever it is.
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
    if (v === null) delete result[k];
    else setOwn(result, k, applyMergePatch(hasOwn(result, k) ? result[k] : undefined, v));
  }
  return result;
}

interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/** RFC 6901 §4: an array index is decimal without leading zeros; `-` (past the end) only where the caller allows it. */
function arrayIndex(arr: unknown[], key: string, pointer: string, allowEnd: boolean): number {
  if (allowEnd && key === '-') return arr.length;
  if (!ARRAY_INDEX.test(key)) throw new Error(`bad array index in ${pointer}`);
  const i = Number(key);
  if (i > arr.length || (!allowEnd && i === arr.length)) throw new Error(`array index out of range: ${pointer}`);
  return i;
}

function child(node: unknown, key: string, pointer: string): unknown {
  if (Array.isArray(node)) return node[arrayIndex(node, key, pointer, false)];
  if (isPlainObject(node) && hasOwn(node, key)) return node[key];
  throw new Error(`path not found: ${pointer}`);
}

/** The container of the last segment of `pointer` (which must exist), and that segment. */
function parent(doc: unknown, pointer: string): { container: unknown; key: string } {
  const segments = parsePointer(pointer);
  let node = doc;
  for (const s of segments.slice(0, -1)) node = child(node, s, pointer);
  if (!Array.isArray(node) && !isPlainObject(node)) throw new Error(`path not found: ${pointer}`);
  return { container: node, key: segments[segments.length - 1]! };
}

function get(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const s of parsePointer(pointer)) node = child(node, s, pointer);
  return node;
}

function remove(doc: unknown, pointer: string): void {
  const { container, key } = parent(doc, pointer);
  if (Array.isArray(container)) container.splice(arrayIndex(container, key, pointer, false), 1);
  else {
    const obj = container as Record<string, unknown>;
    if (!hasOwn(obj, key)) throw new Error(`path not found: ${pointer}`);
    // RFC 6902 `remove`: the member is whichever the client's pointer names.
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
    delete obj[key];
  }
}

function add(doc: unknown, pointer: string, value: unknown): void {
  const { container, key } = parent(doc, pointer);
  if (Array.isArray(container)) container.splice(arrayIndex(container, key, pointer, true), 0, value);
  else setOwn(container as Record<string, unknown>, key, value);
}

/**
 * RFC 6902 JSON Patch (add, remove, replace, move, copy, test) applied to a copy of `doc`; `doc`
 * is not modified. Throws on any op that RFC 6902 says fails (missing path, bad index, failed
 * test), as the apiserver does: a patch that does not apply to what we believe was stored must not
 * produce an expectation.
 */
export function applyJsonPatch(doc: unknown, ops: unknown[]): unknown {
  // A wrapper makes the root an ordinary member, so "" needs no special case.
  const box: Record<string, unknown> = { root: clone(doc) };
  const at = (pointer: unknown): string => {
    if (typeof pointer !== 'string') throw new Error(`JSON Patch op without a string path`);
    parsePointer(pointer); // validates the syntax
    return `/root${pointer}`;
  };
  for (const raw of ops) {
    if (!isPlainObject(raw)) throw new Error('JSON Patch op is not an object');
    const o = raw as unknown as PatchOp;
    const path = at(o.path);
    switch (o.op) {
      case 'add':
        add(box, path, clone(o.value));
        break;
      case 'remove':
        remove(box, path);
        break;
      case 'replace':
        remove(box, path);
        add(box, path, clone(o.value));
        break;
      case 'move': {
        const from = at(o.from);
        if (path.startsWith(`${from}/`)) throw new Error(`cannot move ${o.from} into itself`);
        const value = get(box, from);
        remove(box, from);
        add(box, path, value);
        break;
      }
      case 'copy':
        add(box, path, clone(get(box, at(o.from))));
        break;
      case 'test':
        if (!deepEqual(get(box, path), o.value)) throw new Error(`test failed at ${o.path || 'the root'}`);
        break;
      default:
        throw new Error(`unknown JSON Patch op ${JSON.stringify(o.op)}`);
    }
  }
  return box.root;
}
