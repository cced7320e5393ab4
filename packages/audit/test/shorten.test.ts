import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shorten } from '../src/index.js';

test('shorten keeps text that fits, and max characters of longer text followed by …', () => {
  assert.equal(shorten('', 3), '');
  assert.equal(shorten('abc', 3), 'abc');
  assert.equal(shorten('abcd', 3), 'abc…');
  assert.equal(shorten('x'.repeat(1_001), 1_000), `${'x'.repeat(1_000)}…`);
});

test('shorten with fit counts the … in: the result is never longer than max', () => {
  assert.equal(shorten('abc', 3, { fit: true }), 'abc');
  assert.equal(shorten('abcd', 3, { fit: true }), 'ab…');
  for (let n = 0; n < 20; n++) assert.ok(shorten('y'.repeat(n), 10, { fit: true }).length <= 10);
});
