import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { event, eventList, testApp } from '../helpers/webhook.js';

test('backpressure: over the waiting limit the answer is 429 with Retry-After, before the body is parsed', async () => {
  const t = testApp({ maxWaiting: 2 });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await t.post(eventList([event(i)]))).statusCode, 200);
    await sleep(500); // the waiting count is refreshed in the background
    const res = await t.post(eventList([event(9)]));
    assert.equal(res.statusCode, 429);
    assert.equal(res.headers['retry-after'], '5');
    assert.equal(res.json().error, 'CRTRAIL_ERR_QUEUE_FULL');
    assert.match(res.json().reason, /^3 batches are waiting for the workers/);
    assert.equal((await t.post('{not json')).statusCode, 429, 'refused before the body is parsed');
    assert.equal(t.sink.jobs.length, 3);
    // The workers catch up: accepted again at the next refresh.
    t.sink.jobs.length = 0;
    await sleep(500);
    assert.equal((await t.post(eventList([event(10)]))).statusCode, 200);
  } finally {
    await t.app.close();
  }
});
