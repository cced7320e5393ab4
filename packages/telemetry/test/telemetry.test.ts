import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundedLabel, CRTRAIL_VERSION, serviceRegistry } from '../src/index.js';

test('standard process metrics keep their names, told apart by a service label; build info is there', async () => {
  const text = await serviceRegistry('webhook').metrics();
  assert.match(text, /^process_cpu_user_seconds_total\{service="webhook"\} /m);
  assert.match(text, /^nodejs_heap_size_used_bytes\{service="webhook"\} /m);
  assert.doesNotMatch(text, /crtrail_webhook_process/);
  assert.match(
    text,
    new RegExp(
      `^crtrail_build_info\\{version="${CRTRAIL_VERSION.replace(/\./g, '\\.')}",node="${process.version}",service="webhook"\\} 1$`,
      'm',
    ),
  );
});

test('a label fed from requests stays bounded: known values, then the first N, then other', () => {
  const label = boundedLabel(['prod'], 2);
  assert.equal(label('a'), 'a');
  assert.equal(label('b'), 'b');
  assert.equal(label('c'), 'other');
  assert.equal(label('a'), 'a', 'a value seen before keeps its series');
  assert.equal(label('prod'), 'prod', 'known values always pass');
});
