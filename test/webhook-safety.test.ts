import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadEnv } from '@crtrail/config';
import { startRedisServer } from '@crtrail/stack';
import { freePort, uniquePrefix } from '@crtrail/testkit';
import { startWebhook, type RunningWebhook } from '@crtrail/webhook';
import { eventList } from './helpers/events.js';

const event = (i: number) => ({
  level: 'Metadata',
  auditID: `s-${i}`,
  stage: 'ResponseComplete',
  requestURI: '/apis/example.com/v1/namespaces/x/widgets/w',
  verb: 'patch',
  user: { username: 'alice' },
  objectRef: { apiGroup: 'example.com', resource: 'widgets', namespace: 'x', name: 'w' },
});

const post = (hook: RunningWebhook, body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(`${hook.url}/audit/c1`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

// The body, backpressure and size cases run with app.inject() in services/webhook/test: here only
// what needs a real Redis going away and coming back.
describe('webhook safety on a real server with real Redis', () => {
  test('Redis stopped → 503 + Retry-After within 2 s; accepted again once it is back; no ack without the batch in Redis', async () => {
    const port = await freePort();
    let redisServer = await startRedisServer(port);
    const prefix = uniquePrefix('redis-down');
    const hook = await startWebhook(
      loadEnv({ CRTRAIL_REDIS_URL: `redis://127.0.0.1:${port}`, CRTRAIL_INDEX_PREFIX: prefix, CRTRAIL_PORT: '0' }),
      false,
    );
    try {
      assert.equal((await post(hook, eventList([event(1)]))).status, 200);
      await redisServer.stop();
      const started = Date.now();
      const down = await post(hook, eventList([event(2)]));
      assert.equal(down.status, 503);
      assert.ok(Date.now() - started < 2_000, `answered in ${Date.now() - started} ms`);
      assert.ok(Number(down.headers.get('retry-after')) > 0);
      assert.equal((await fetch(`${hook.url}/readyz`)).status, 503);
      redisServer = await startRedisServer(port);
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        await sleep(200);
        status = (await post(hook, eventList([event(3)]))).status;
      }
      assert.equal(status, 200);
      // The fresh Redis (no persistence) holds exactly the batch acked after it came back.
      const jobs = await hook.queue.getWaiting();
      assert.deepEqual(
        jobs.map((j) => j.data.events.map((e) => e.auditID)),
        [['s-3']],
      );
    } finally {
      await hook.close();
      await redisServer.stop();
    }
  });
});
