import {
  escapeToken,
  parsePointer,
  shareCanonical,
  shareMemberTexts,
  SHARED_TEXT_DEPTH,
  type KubeObject,
} from '@crtrail/audit';

/** One changed field: RFC 6901 pointer, old value (absent for add), new value (absent for remove). */
export interface Op {
  op: 'add' | 'remove' | 'replace';
  path: string;
  old?: unknown;
  new?: unknown;
}

/** An RFC 6902 JSON Patch operation. */
export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}

/**
 * Paths never diffed: bookkeeping the apiserver changes on every write. `uid` too: a new uid is a
 * new object, handled by the history, not a field change.
 */
export const DEFAULT_IGNORE_PATHS: readonly string[] = Object.freeze([
  '/metadata/managedFields',
  '/metadata/resourceVersion',
  '/metadata/generation',
  '/metadata/creationTimestamp',
  '/metadata/uid',
]);

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Structural equality of JSON values (object key order does not matter). */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/**
 * Field-level diff of two JSON values, deterministic: object keys in sorted order; arrays element by
 * index (common indices first, then appended elements ascending, then removed tail elements
 * descending, so the derived JSON Patch applies cleanly). A value whose type changes is one
 * `replace` of the whole value. `ignore` pointers (and everything under them) make no ops.
 *
 * Why not jsondiffpatch: its array algorithm (LCS matching, even with `detectMove: false`) reports
 * inserts and deletes at shifting positions, which read well in a UI but do not give the
 * "element i: old → new" the records promise, and its delta would need a second walk to become
 * ops. This single walk is also the worker's hottest code (20 KB custom resources, every write),
 * where skipping jsondiffpatch's cloning and matching is a measured gain.
 */
export function diffValues(a: unknown, b: unknown, ignore: readonly string[] = DEFAULT_IGNORE_PATHS, path = ''): Op[] {
  const out: Op[] = [];
  if (ignore.includes(path)) return out;
  // Deeper than any shared text from the start: a plain diff shares none.
  walk(a, b, path, ignoreTrie(ignore, path), out, SHARED_TEXT_DEPTH + 1);
  return out;
}

/**
 * {@link diffValues} of a stored state `b` against its predecessor `a`: besides, `b`'s parts that
 * did not change take `a`'s canonical texts (see {@link walk}), as `b` is hashed next.
 */
export function diffStates(a: unknown, b: unknown, ignore: readonly string[]): Op[] {
  const out: Op[] = [];
  if (ignore.includes('')) return out;
  walk(a, b, '', ignoreTrie(ignore, ''), out, 0);
  return out;
}

/** {@link diffValues} under the name the engine's API documents: ops turning `a` into `b`. */
export function diffObjects(a: unknown, b: unknown, ignore: readonly string[] = DEFAULT_IGNORE_PATHS): Op[] {
  return diffValues(a, b, ignore);
}

/**
 * Ignored pointers as a tree of segments, so the walk checks a key against the few ignored names at
 * its depth instead of building and looking up a pointer string for every field of every object
 * (the diff is the worker's hottest code: 20 KB custom resources, every write).
 */
interface IgnoreNode {
  children: Map<string, IgnoreNode>;
  ignored: boolean;
}

const trieCache = new Map<string, IgnoreNode | undefined>();

function ignoreTrie(ignore: readonly string[], base: string): IgnoreNode | undefined {
  const cacheKey = `${base}\u0000${ignore.join('\u0000')}`;
  if (trieCache.has(cacheKey)) return trieCache.get(cacheKey);
  let root: IgnoreNode | undefined;
  const baseSegments = parsePointer(base);
  for (const pointer of ignore) {
    const segments = parsePointer(pointer);
    if (segments.length <= baseSegments.length || !baseSegments.every((s, i) => segments[i] === s)) continue;
    root ??= { children: new Map(), ignored: false };
    let node = root;
    for (const s of segments.slice(baseSegments.length)) {
      let child = node.children.get(s);
      if (!child) node.children.set(s, (child = { children: new Map(), ignored: false }));
      node = child;
    }
    node.ignored = true;
  }
  if (trieCache.size > 64) trieCache.clear();
  trieCache.set(cacheKey, root);
  return root;
}

/**
 * Whether `keys` are sorted as `keys.sort()` would sort them (most objects' keys arrive sorted, and
 * the sort was the diff walk's largest single cost): `<` on strings compares UTF-16 code units, as
 * the default sort does, and an object's keys are distinct.
 */
function inOrder(keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++) if (!(keys[i - 1]! < keys[i]!)) return false;
  return true;
}

const isObjectValue = (v: unknown): boolean => v !== null && typeof v === 'object';

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The ops of member `k` of two objects walked at `path`: absent on one side is an add or a remove. */
function member(
  k: string,
  va: unknown,
  vb: unknown,
  path: string,
  ignore: IgnoreNode | undefined,
  out: Op[],
  depth: number,
): void {
  if (va === vb) return;
  const sub = ignore?.children.get(k);
  if (sub?.ignored) return;
  const p = `${path}/${escapeToken(k)}`;
  if (va === undefined) out.push({ op: 'add', path: p, new: vb });
  else if (vb === undefined) out.push({ op: 'remove', path: p, old: va });
  else walk(va, vb, p, sub, out, depth);
}

/**
 * Appends to `out` the ops turning `a` into `b`. Two objects or arrays that gave no op, with no
 * ignored path below them, are the same JSON value: `a`'s canonical text, if known, is `b`'s
 * ({@link shareCanonical}), so the next state's hash does not serialize what did not change; of
 * two members of states (depth SHARED_TEXT_DEPTH) that differ, the unchanged object members'
 * texts are shared ({@link shareMemberTexts}). `depth` counts from the states `diffStates` diffs
 * (a plain diff starts below SHARED_TEXT_DEPTH): deeper, no text is ever kept.
 */
function walk(a: unknown, b: unknown, path: string, ignore: IgnoreNode | undefined, out: Op[], depth: number): void {
  const share = ignore === undefined && depth <= SHARED_TEXT_DEPTH;
  if (isPlainObject(a) && isPlainObject(b)) {
    const before = out.length;
    const keys = Object.keys(a);
    const keysB = Object.keys(b);
    // A state's member (its spec): which object members did not change, for their texts.
    const same: string[] | undefined = share && depth === SHARED_TEXT_DEPTH ? [] : undefined;
    if (sameKeys(keys, keysB) && inOrder(keys)) {
      // The usual case (two states of one object): the same keys, sorted. The values are then
      // read in one call per object, in that order, instead of two lookups by name per key.
      const valuesA = Object.values(a);
      const valuesB = Object.values(b);
      for (let i = 0; i < keys.length; i++) {
        const n = out.length;
        member(keys[i]!, valuesA[i], valuesB[i], path, ignore, out, depth + 1);
        if (same !== undefined && out.length === n && isObjectValue(valuesB[i])) same.push(keys[i]!);
      }
    } else {
      for (const k of keysB) if (!Object.prototype.hasOwnProperty.call(a, k)) keys.push(k);
      if (!inOrder(keys)) keys.sort();
      for (const k of keys) {
        const n = out.length;
        member(k, a[k], b[k], path, ignore, out, depth + 1);
        if (same !== undefined && out.length === n && isObjectValue(b[k])) same.push(k);
      }
    }
    if (share && out.length === before) shareCanonical(a, b);
    else if (same !== undefined) shareMemberTexts(a, b, same);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const before = out.length;
    const common = Math.min(a.length, b.length);
    for (let i = 0; i < common; i++) {
      if (a[i] !== b[i]) walk(a[i], b[i], `${path}/${i}`, ignore?.children.get(String(i)), out, depth + 1);
    }
    for (let i = common; i < b.length; i++) out.push({ op: 'add', path: `${path}/${i}`, new: b[i] });
    for (let i = a.length - 1; i >= common; i--) out.push({ op: 'remove', path: `${path}/${i}`, old: a[i] });
    if (share && out.length === before) shareCanonical(a, b);
    return;
  }
  if (!deepEqual(a, b)) out.push({ op: 'replace', path, old: a, new: b });
}

/**
 * Every leaf of `value` as an `add` (a create) or a `remove` (a delete), minus ignored paths: one op
 * per scalar field (empty objects/arrays count as leaves), so a created object is searchable by the
 * same paths as later changes to it.
 */
export function leaves(
  value: unknown,
  op: 'add' | 'remove',
  ignore: readonly string[] = DEFAULT_IGNORE_PATHS,
  path = '',
): Op[] {
  const out: Op[] = [];
  const skip = new Set(ignore);
  const visit = (v: unknown, p: string): void => {
    if (skip.has(p)) return;
    const entries: Array<[string, unknown]> = Array.isArray(v)
      ? v.map((x, i) => [String(i), x])
      : isPlainObject(v)
        ? Object.keys(v)
            .sort()
            .map((k) => [escapeToken(k), v[k]])
        : [];
    if (entries.length === 0) {
      if (p !== '' && v !== undefined) out.push(op === 'add' ? { op, path: p, new: v } : { op, path: p, old: v });
      return;
    }
    for (const [k, x] of entries) visit(x, `${p}/${k}`);
  };
  visit(value, path);
  return out;
}

/** RFC 6902 form of ops (old values dropped). */
export function toJsonPatch(ops: Op[]): JsonPatchOp[] {
  return ops.map((o) =>
    o.op === 'remove' ? { op: 'remove', path: o.path } : { op: o.op, path: o.path, value: o.new },
  );
}

/** Sorted, distinct op paths (the searchable keywords). */
export function pathsOf(ops: Op[]): string[] {
  return [...new Set(ops.map((o) => o.path))].sort();
}

/** The object without `metadata.managedFields`: they are never stored nor diffed. */
export function sanitize(object: KubeObject): KubeObject {
  const meta = object.metadata;
  if (!isPlainObject(meta) || !('managedFields' in meta)) return object;
  const { managedFields: _managed, ...rest } = meta;
  return { ...object, metadata: rest };
}

export { deepEqual, isPlainObject };
