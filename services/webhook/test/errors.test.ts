import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errors, isWebhookError, responseHeadersOf } from '../src/errors.js';

test('each coded error carries its code, its status and its message with the arguments filled in', () => {
  const full = new errors.CRTRAIL_ERR_QUEUE_FULL(7);
  assert.equal(full.code, 'CRTRAIL_ERR_QUEUE_FULL');
  assert.equal(full.statusCode, 429);
  assert.equal(full.message, '7 batches are waiting for the workers; retry later');
  assert.equal(
    new errors.CRTRAIL_ERR_INVALID_CLUSTER('"a b"').message,
    'cluster name "a b": letters, digits, . _ - (max 63)',
  );
  // A reason with a % in it is text, not a format string.
  assert.equal(
    new errors.CRTRAIL_ERR_INVALID_JSON('Unexpected token % in JSON').message,
    'body is not valid JSON: Unexpected token % in JSON',
  );
  for (const [code, make] of Object.entries(errors)) {
    // Called as the table's type-erased constructor: each one's arguments differ, any three fill it.
    const err = new (make as new (...args: unknown[]) => { code: string; statusCode: number })('x', 1, 2);
    assert.equal(err.code, code);
    assert.ok(err.statusCode >= 400 && err.statusCode < 600, code);
    assert.ok(isWebhookError(err), code);
  }
});

test('only our own errors are ours: an Error that merely borrows a code is not', () => {
  const lookalike = Object.assign(new Error('x'), { code: 'CRTRAIL_ERR_FORBIDDEN', statusCode: 403 });
  assert.equal(isWebhookError(lookalike), false);
  assert.equal(isWebhookError(null), false);
  assert.equal(isWebhookError(Object.assign(new Error('x'), { code: 'toString' })), false);
});

test('what the apiserver should retry says when (Retry-After); a 401 names the scheme', () => {
  assert.deepEqual(responseHeadersOf('CRTRAIL_ERR_QUEUE_FULL'), { 'retry-after': '5' });
  assert.deepEqual(responseHeadersOf('CRTRAIL_ERR_REPLICAS_BEHIND'), { 'retry-after': '5' });
  assert.deepEqual(responseHeadersOf('CRTRAIL_ERR_QUEUE_UNAVAILABLE'), { 'retry-after': '10' });
  assert.deepEqual(responseHeadersOf('CRTRAIL_ERR_UNAUTHORIZED'), { 'www-authenticate': 'Bearer realm="crtrail"' });
  assert.deepEqual(responseHeadersOf('CRTRAIL_ERR_INVALID_BATCH'), {});
});
