import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch, applyMergePatch, diffValues, leaves, toJsonPatch } from '../src/index.js';

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
  const a = { metadata: { resourceVersion: '1', generation: 1, managedFields: [{}], uid: 'u', creationTimestamp: 't' } };
  const b = { metadata: { resourceVersion: '2', generation: 2, managedFields: [{}, {}], uid: 'u', creationTimestamp: 't' } };
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
  assert.deepEqual(applyJsonPatch({ a: [1, 2] }, [{ op: 'add', path: '/a/-', value: 3 }, { op: 'replace', path: '/a/0', value: 0 }, { op: 'move', from: '/a/1', path: '/b' }]), { a: [0, 3], b: 2 });
  assert.throws(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]), /test failed/);
  assert.deepEqual(applyMergePatch({ a: { b: 1, c: 2 }, d: 1 }, { a: { b: null, e: 3 }, d: [1] }), { a: { c: 2, e: 3 }, d: [1] });
});
