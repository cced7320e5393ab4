import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson, rememberCanonical } from '@crtrail/audit';
import { diffStates } from '../src/ops.js';
import {
  applyJsonPatch,
  applyMergePatch,
  classifyKind,
  diffObjects,
  diffValues,
  leaves,
  sanitize,
  toJsonPatch,
  DEFAULT_IGNORE_PATHS,
} from '../src/index.js';

test('objects diff by key, with RFC 6901 escaping of ~ and /', () => {
  const a = { metadata: { labels: { 'app.kubernetes.io/name': 'x', 'a~b': '1' } }, spec: { n: 1, gone: true } };
  const b = { metadata: { labels: { 'app.kubernetes.io/name': 'y', 'a~b': '1' } }, spec: { n: 2, added: 'z' } };
  assert.deepEqual(diffValues(a, b), [
    { op: 'replace', path: '/metadata/labels/app.kubernetes.io~1name', old: 'x', new: 'y' },
    { op: 'add', path: '/spec/added', new: 'z' },
    { op: 'remove', path: '/spec/gone', old: true },
    { op: 'replace', path: '/spec/n', old: 1, new: 2 },
  ]);
});

test('arrays diff element by index; removed tail elements come last, highest first', () => {
  assert.deepEqual(diffValues({ l: [1, 2, 3, 4] }, { l: [1, 9] }), [
    { op: 'replace', path: '/l/1', old: 2, new: 9 },
    { op: 'remove', path: '/l/3', old: 4 },
    { op: 'remove', path: '/l/2', old: 3 },
  ]);
  assert.deepEqual(diffValues({ l: [{ a: 1 }] }, { l: [{ a: 2 }, { a: 3 }] }), [
    { op: 'replace', path: '/l/0/a', old: 1, new: 2 },
    { op: 'add', path: '/l/1', new: { a: 3 } },
  ]);
});

test('ignored bookkeeping paths never make ops', () => {
  const a = {
    metadata: { resourceVersion: '1', generation: 1, managedFields: [{}], uid: 'u', creationTimestamp: 't' },
  };
  const b = {
    metadata: { resourceVersion: '2', generation: 2, managedFields: [{}, {}], uid: 'u', creationTimestamp: 't' },
  };
  assert.deepEqual(diffValues(a, b), []);
});

test('a type change is a replace of the whole value', () => {
  assert.deepEqual(diffValues({ v: { a: 1 } }, { v: [1] }), [{ op: 'replace', path: '/v', old: { a: 1 }, new: [1] }]);
});

test('leaves lists every scalar field, empty containers included', () => {
  assert.deepEqual(leaves({ spec: { a: 1, l: ['x'], e: {} } }, 'add'), [
    { op: 'add', path: '/spec/a', new: 1 },
    { op: 'add', path: '/spec/e', new: {} },
    { op: 'add', path: '/spec/l/0', new: 'x' },
  ]);
});

test('the RFC 6902 form of ops applies: b = patch(a)', () => {
  const a = { spec: { l: [1, 2, 3, 4], m: { x: 1 }, s: 'a' } };
  const b = { spec: { l: [1, 5], m: { y: 2 }, s: 'b', t: true } };
  assert.deepEqual(applyJsonPatch(a, toJsonPatch(diffValues(a, b))), b);
});

test('JSON Patch and merge patch application', () => {
  assert.deepEqual(
    applyJsonPatch({ a: [1, 2] }, [
      { op: 'add', path: '/a/-', value: 3 },
      { op: 'replace', path: '/a/0', value: 0 },
      { op: 'move', from: '/a/1', path: '/b' },
    ]),
    { a: [0, 3], b: 2 },
  );
  assert.throws(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]), /test failed/);
  assert.deepEqual(applyMergePatch({ a: { b: 1, c: 2 }, d: 1 }, { a: { b: null, e: 3 }, d: [1] }), {
    a: { c: 2, e: 3 },
    d: [1],
  });
});

test('JSON Patch failures throw as RFC 6902 says: missing paths, bad or out-of-range indices, move into itself', () => {
  assert.throws(() => applyJsonPatch({ a: [1] }, [{ op: 'replace', path: '/a/1', value: 2 }]), /out of range/);
  assert.throws(() => applyJsonPatch({ a: [1] }, [{ op: 'add', path: '/a/2', value: 2 }]), /out of range/);
  assert.throws(() => applyJsonPatch({ a: [1] }, [{ op: 'remove', path: '/a/01' }]), /bad array index/);
  assert.throws(() => applyJsonPatch({ a: [1] }, [{ op: 'remove', path: '/a/-' }]), /bad array index/);
  assert.throws(() => applyJsonPatch({ a: {} }, [{ op: 'replace', path: '/a/b', value: 1 }]), /path not found/);
  assert.throws(() => applyJsonPatch({ a: {} }, [{ op: 'add', path: '/x/y', value: 1 }]), /path not found/);
  assert.throws(() => applyJsonPatch({ a: {} }, [{ op: 'remove', path: '/toString' }]), /path not found/);
  assert.throws(() => applyJsonPatch({ a: { b: 1 } }, [{ op: 'move', from: '/a', path: '/a/c' }]), /into itself/);
  assert.throws(() => applyJsonPatch({}, [{ op: 'add', path: 'a', value: 1 }]), /not a JSON pointer/);
  assert.throws(() => applyJsonPatch({}, [{ op: 'frobnicate', path: '/a' }]), /unknown JSON Patch op/);
});

test('JSON Patch: escaped tokens, root replace, copy, test by value (key order free); input untouched', () => {
  const doc = { m: { 'a/b': 1, 'c~d': 2 }, l: [{ x: 1, y: 2 }] };
  const out = applyJsonPatch(doc, [
    { op: 'replace', path: '/m/a~1b', value: 10 },
    { op: 'remove', path: '/m/c~0d' },
    { op: 'test', path: '/l/0', value: { y: 2, x: 1 } },
    { op: 'copy', from: '/l/0', path: '/l/-' },
    { op: 'replace', path: '/l/1/x', value: 5 },
  ]);
  assert.deepEqual(out, {
    m: { 'a/b': 10 },
    l: [
      { x: 1, y: 2 },
      { x: 5, y: 2 },
    ],
  });
  assert.deepEqual(doc, { m: { 'a/b': 1, 'c~d': 2 }, l: [{ x: 1, y: 2 }] });
  assert.deepEqual(applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: [1] }]), [1]);
});

test('patches from clients cannot replace prototypes (__proto__ is an ordinary key)', () => {
  const merged = applyMergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(merged), Object.prototype);
  assert.deepEqual(Object.keys(merged), ['__proto__']);
  const patched = applyJsonPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]) as Record<
    string,
    unknown
  >;
  assert.equal(Object.getPrototypeOf(patched), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('merge patch: null deletes, arrays replace, non-object patch replaces the target (RFC 7386 appendix A)', () => {
  assert.deepEqual(applyMergePatch({ a: 'b' }, { a: 'c' }), { a: 'c' });
  assert.deepEqual(applyMergePatch({ a: [{ b: 'c' }] }, { a: [1] }), { a: [1] });
  assert.deepEqual(applyMergePatch({ e: null }, { a: 1 }), { e: null, a: 1 });
  assert.deepEqual(applyMergePatch([1, 2], { a: 'b', c: null }), { a: 'b' });
  assert.deepEqual(applyMergePatch({}, { a: { bb: { ccc: null } } }), { a: { bb: {} } });
  assert.deepEqual(applyMergePatch({ a: 'foo' }, 'bar'), 'bar');
});

test('diffObjects: custom ignore list (whole subtrees), sanitize drops managedFields only', () => {
  const a = { metadata: { annotations: { x: '1' }, labels: { a: '1' } }, spec: { n: 1 } };
  const b = { metadata: { annotations: { x: '2' }, labels: { a: '2' } }, spec: { n: 1 } };
  assert.deepEqual(diffObjects(a, b, ['/metadata/annotations']), [
    { op: 'replace', path: '/metadata/labels/a', old: '1', new: '2' },
  ]);
  assert.deepEqual(sanitize({ metadata: { name: 'n', managedFields: [{}] }, spec: {} }), {
    metadata: { name: 'n' },
    spec: {},
  });
});

test("classifyKind: create/delete by what the write did to the object, else by the recorded ops' top-level paths", () => {
  const op = (path: string) => ({ op: 'replace' as const, path, old: 1, new: 2 });
  assert.equal(classifyKind([], 'create'), 'create');
  assert.equal(classifyKind([op('/metadata/finalizers')], 'delete'), 'delete');
  assert.equal(classifyKind([op('/data/x')]), 'spec');
  assert.equal(classifyKind([op('/status/x')]), 'status');
  assert.equal(classifyKind([op('/metadata/labels/x')]), 'metadata');
  assert.equal(classifyKind([op('/metadata/labels/x'), op('/spec/x')]), 'mixed');
  assert.equal(classifyKind([]), 'noop', 'nothing shown is never claimed as a spec change');
});

test('property: the RFC 6902 form of any diff turns a into b', () => {
  const key = fc.constantFrom('a', 'b', 'c/d', 'e~f', '0', '');
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.integer(),
      fc.string({ maxLength: 3 }),
      fc.boolean(),
      fc.constant(null),
      tie('array'),
      tie('object'),
    ),
    array: fc.array(tie('value'), { maxLength: 4 }),
    object: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  })).value;
  fc.assert(
    fc.property(json, json, (a, b) => {
      const ops = diffValues(a, b, []);
      assert.deepEqual(applyJsonPatch(a, toJsonPatch(ops)), b);
    }),
    { numRuns: 500 },
  );
});

test('property: a state diffed against its predecessor gets the canonical text of what it is, whatever the predecessor shared', () => {
  const section = fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 3 }));
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ maxLength: 4 }), section),
      fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })), { maxLength: 3 }),
      fc.boolean(),
      (spec, edits, sameRv) => {
        const prev = { metadata: { name: 'x', resourceVersion: '1' }, spec, status: { n: 1 } };
        rememberCanonical(prev, true);
        const next = JSON.parse(JSON.stringify(prev)) as typeof prev;
        if (!sameRv) next.metadata.resourceVersion = '2';
        const names = Object.keys(next.spec);
        for (const [i, k, v] of edits) if (names.length > 0) next.spec[names[i % names.length]!]![k] = v;
        assert.deepEqual(diffStates(prev, next, DEFAULT_IGNORE_PATHS), diffValues(prev, next));
        // Shared from `prev` where the diff found no change; serialized where it did.
        return (
          rememberCanonical(next, true) === canonicalJson(next) &&
          rememberCanonical(next.spec) === canonicalJson(next.spec)
        );
      },
    ),
    { numRuns: 500 },
  );
});
