import { isPlainObject, splitPointer } from './ops.js';

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/** RFC 7386 JSON merge patch: objects merge, `null` deletes, anything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = applyMergePatch(result[k], v);
  }
  return result;
}

interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

function parent(doc: unknown, segments: string[]): { container: any; key: string } {
  let node: any = doc;
  for (const s of segments.slice(0, -1)) {
    node = Array.isArray(node) ? node[Number(s)] : node?.[s];
    if (node === undefined || node === null || typeof node !== 'object') throw new Error(`path not found: /${segments.join('/')}`);
  }
  return { container: node, key: segments[segments.length - 1]! };
}

function get(doc: unknown, pointer: string): unknown {
  let node: any = doc;
  for (const s of splitPointer(pointer)) {
    node = Array.isArray(node) ? node[Number(s)] : node?.[s];
    if (node === undefined) throw new Error(`path not found: ${pointer}`);
  }
  return node;
}

/** RFC 6902 JSON Patch (add, remove, replace, move, copy, test) on a copy of `doc`. Throws on a failed op. */
export function applyJsonPatch(doc: unknown, ops: unknown[]): unknown {
  let result = clone(doc);
  for (const raw of ops) {
    const o = raw as PatchOp;
    const segments = splitPointer(o.path);
    if (segments.length === 0) {
      if (o.op === 'add' || o.op === 'replace') result = clone(o.value);
      else if (o.op === 'test') {
        if (JSON.stringify(result) !== JSON.stringify(o.value)) throw new Error('test failed at the root');
      } else throw new Error(`cannot ${o.op} the root`);
      continue;
    }
    const value = o.op === 'move' || o.op === 'copy' ? clone(get(result, o.from ?? '')) : clone(o.value);
    if (o.op === 'move') {
      const from = parent(result, splitPointer(o.from ?? ''));
      if (Array.isArray(from.container)) from.container.splice(Number(from.key), 1);
      else delete from.container[from.key];
    }
    const { container, key } = parent(result, segments);
    switch (o.op) {
      case 'add':
      case 'move':
      case 'copy':
        if (Array.isArray(container)) container.splice(key === '-' ? container.length : Number(key), 0, value);
        else container[key] = value;
        break;
      case 'replace':
        if (Array.isArray(container)) container[Number(key)] = value;
        else {
          if (!(key in container)) throw new Error(`path not found: ${o.path}`);
          container[key] = value;
        }
        break;
      case 'remove':
        if (Array.isArray(container)) container.splice(Number(key), 1);
        else {
          if (!(key in container)) throw new Error(`path not found: ${o.path}`);
          delete container[key];
        }
        break;
      case 'test':
        if (JSON.stringify(container[key]) !== JSON.stringify(o.value)) throw new Error(`test failed at ${o.path}`);
        break;
      default:
        throw new Error(`unknown JSON Patch op ${JSON.stringify(o.op)}`);
    }
  }
  return result;
}
