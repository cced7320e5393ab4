import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { assertPortFree, isAlive } from '../src/ops/run-state.js';

test('a port in use is refused before anything starts, naming the variable; a free one passes', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    await assert.rejects(
      assertPortFree('127.0.0.1', port, 'CRTRAIL_PORT'),
      new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use \\(CRTRAIL_PORT\\)`),
    );
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
  await assertPortFree('127.0.0.1', port, 'CRTRAIL_PORT');
  await assertPortFree('127.0.0.1', 0, 'CRTRAIL_PORT');
});

test('liveness of a pid', () => {
  assert.equal(isAlive(process.pid), true);
  assert.equal(isAlive(2 ** 22 + 12345), false);
});
