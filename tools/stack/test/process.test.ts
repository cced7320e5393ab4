import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runWithProgress } from '../src/process.js';

test('a long command reports it is alive while it runs, and its output and status at the end', async () => {
  const ticks: number[] = [];
  const r = await runWithProgress(
    'sh',
    ['-c', 'sleep 1; echo fetched; echo warn >&2; exit 3'],
    (s) => ticks.push(s),
    100,
  );
  assert.equal(r.status, 3);
  assert.equal(r.stdout, 'fetched\n');
  assert.equal(r.stderr, 'warn\n');
  assert.ok(ticks.length >= 1, 'at least one progress tick during a 1 s command ticking every 0.1 s');
  const missing = await runWithProgress('no-such-command-crtrail', [], () => {});
  assert.equal(missing.status, -1);
});
