import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeToken, formatPointer, parsePointer, pathToPointer, pathTokens, unescapeToken } from '../src/index.js';

test('tokens escape ~ before / and unescape ~1 before ~0 (RFC 6901 §3–4)', () => {
  assert.equal(escapeToken('plain'), 'plain');
  assert.equal(escapeToken('app.kubernetes.io/name'), 'app.kubernetes.io~1name');
  assert.equal(escapeToken('a~b'), 'a~0b');
  assert.equal(escapeToken('~1'), '~01', 'a literal "~1" must not read back as "/"');
  assert.equal(unescapeToken('~01'), '~1');
  assert.equal(unescapeToken('a~1b~0c'), 'a/b~c');
  for (const t of ['', 'x', '/', '~', '~0', '~1', 'a/b~c', '//~~']) assert.equal(unescapeToken(escapeToken(t)), t);
});

test('parsePointer: "" is the whole document, "/" the empty key, escapes decoded', () => {
  assert.deepEqual(parsePointer(''), []);
  assert.deepEqual(parsePointer('/'), ['']);
  assert.deepEqual(parsePointer('/spec/ports/0'), ['spec', 'ports', '0']);
  assert.deepEqual(parsePointer('/metadata/labels/app.kubernetes.io~1name'), [
    'metadata',
    'labels',
    'app.kubernetes.io/name',
  ]);
  assert.deepEqual(parsePointer('/m/c~0d/~01'), ['m', 'c~d', '~1']);
  assert.deepEqual(parsePointer('/a//b/'), ['a', '', 'b', '']);
});

test('parsePointer throws on a non-pointer unless strict is off, which reads past the first character', () => {
  assert.throws(() => parsePointer('spec/x'), /not a JSON pointer: "spec\/x"/);
  // Integrity's readers of stored paths always read them so (and must not crash on a tampered one).
  assert.deepEqual(parsePointer('spec/x', { strict: false }), ['pec', 'x']);
  assert.deepEqual(parsePointer('', { strict: false }), []);
  assert.deepEqual(parsePointer('/a~1b', { strict: false }), ['a/b']);
});

test('formatPointer is the inverse of parsePointer', () => {
  assert.equal(formatPointer([]), '');
  assert.equal(formatPointer(['']), '/');
  assert.equal(
    formatPointer(['metadata', 'annotations', 'example.com/tier']),
    '/metadata/annotations/example.com~1tier',
  );
  for (const p of ['', '/', '/a/b', '/a~1b/~0/~01', '/x//y/']) assert.equal(formatPointer(parsePointer(p)), p);
});

test('pathToPointer, config reading: [*] and [n] are tokens, a pointer is kept as written', () => {
  assert.equal(pathToPointer('spec.containers[0].image'), '/spec/containers/0/image');
  assert.equal(pathToPointer('spec.containers[*].image'), '/spec/containers/*/image');
  assert.equal(pathToPointer('spec.matrix[1][2]'), '/spec/matrix/1/2');
  assert.equal(pathToPointer('metadata.labels.a/b'), '/metadata/labels/a~1b');
  assert.equal(pathToPointer('metadata.labels.a~b'), '/metadata/labels/a~0b');
  assert.equal(pathToPointer('spec..x'), '/spec//x', 'every dot segment is a token');
  assert.equal(pathToPointer('/spec/owner/'), '/spec/owner/');
  assert.equal(pathToPointer('/metadata/annotations/example.com~1tier'), '/metadata/annotations/example.com~1tier');
});

test('pathToPointer, command-line reading (changes --path): lenient, no [*]', () => {
  const cli = { wildcardIndex: false, lenient: true };
  assert.equal(pathToPointer('spec.template.spec.containers[0].image', cli), '/spec/template/spec/containers/0/image');
  assert.equal(pathToPointer('spec.containers[*].image', cli), '/spec/containers[*]/image');
  assert.equal(pathToPointer('spec..x.', cli), '/spec/x');
  assert.equal(pathToPointer('.', cli), '/');
  assert.equal(pathToPointer('/spec/', cli), '/spec');
  assert.equal(pathToPointer('/spec///', cli), '/spec');
  assert.equal(pathToPointer('/', cli), '/');
  assert.equal(pathToPointer('//', cli), '/');
  assert.equal(pathToPointer('metadata.annotations.a/b', cli), '/metadata/annotations/a~1b');
});

test('pathTokens reads both forms into unescaped tokens, skipping empty dot segments', () => {
  assert.deepEqual(pathTokens('spec.containers[*].image'), ['spec', 'containers', '*', 'image']);
  assert.deepEqual(pathTokens('spec.ports[2]'), ['spec', 'ports', '2']);
  assert.deepEqual(pathTokens('spec..x.'), ['spec', 'x']);
  assert.deepEqual(pathTokens(''), []);
  assert.deepEqual(pathTokens('/metadata/annotations/example.com~1tier'), [
    'metadata',
    'annotations',
    'example.com/tier',
  ]);
  assert.deepEqual(pathTokens('/spec/*/x'), ['spec', '*', 'x']);
});
