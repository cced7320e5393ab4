import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { event, eventList, testApp } from '../helpers/webhook.js';

describe('/healthz, /readyz, /metrics (inject, in-memory sink)', () => {
  test('health and readiness; metrics count what was acked', async () => {
    const t = testApp();
    try {
      assert.equal((await t.post(eventList([event(1), event(2), event(3)]))).statusCode, 200);
      const health = await t.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 200);
      assert.deepEqual(health.json(), { status: 'ok' });
      const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json(), { status: 'ready', redis: t.sink.settings });
      const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
      assert.match(String(metrics.headers['content-type']), /^text\/plain/);
      assert.match(metrics.body, /crtrail_webhook_events_accepted_total\{cluster="c1",service="webhook"\} 3/);
      assert.match(
        metrics.body,
        /crtrail_webhook_queue_waiting\{service="webhook"\} 1\b/,
        'the depth as of the scrape',
      );
    } finally {
      await t.app.close();
    }
  });

  test('/readyz: 503 + Retry-After when the sink does not answer; the persistence warning when it keeps nothing; unknown when unreadable', async () => {
    const t = testApp();
    try {
      t.sink.pingError = new Error('Connection is closed.');
      const down = await t.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(down.statusCode, 503);
      assert.equal(down.headers['retry-after'], '5');
      assert.deepEqual(down.json(), { status: 'unavailable', reason: 'Connection is closed.' });
      t.sink.pingError = undefined;

      t.sink.settings = { aof: false, rdb: false, persistent: false, how: "appendonly no, save ''" };
      t.sink.warning = 'Redis at redis://x keeps nothing on disk';
      const volatile = await t.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(volatile.statusCode, 200, 'ready either way');
      assert.deepEqual(volatile.json(), { status: 'ready', redis: t.sink.settings, warning: t.sink.warning });

      t.sink.persistenceError = new Error('NOPERM');
      const unknown = await t.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(unknown.statusCode, 200);
      assert.deepEqual(unknown.json(), { status: 'ready', redis: { unknown: true, how: 'could not read: NOPERM' } });
    } finally {
      await t.app.close();
    }
  });

  test('/readyz does not hang on a sink that never answers: 503 after 1 s', async () => {
    const t = testApp();
    try {
      t.sink.ping = () => new Promise(() => {});
      const started = Date.now();
      const res = await t.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().reason, 'redis ping timed out after 1000 ms');
      assert.ok(Date.now() - started < 3_000, `${Date.now() - started} ms`);
    } finally {
      await t.app.close();
    }
  });
});
