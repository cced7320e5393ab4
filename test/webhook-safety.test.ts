import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { loadEnv } from '@crtrail/config';
import { startRedisServer } from '@crtrail/stack';
import { cleanupPrefix, freePort, testEs, testRedis, testRedisUrl, uniquePrefix } from '@crtrail/testkit';
import { startWebhook, type RunningWebhook } from '@crtrail/webhook';
import { eventList } from './helpers/events.js';
import { withWebhook } from './helpers/webhook.js';

const event = (i: number) => ({
  level: 'Metadata', auditID: `s-${i}`, stage: 'ResponseComplete', requestURI: '/apis/example.com/v1/namespaces/x/widgets/w',
  verb: 'patch', user: { username: 'alice' }, objectRef: { apiGroup: 'example.com', resource: 'widgets', namespace: 'x', name: 'w' },
});


const post = (hook: RunningWebhook, body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(`${hook.url}/audit/c1`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });


describe('webhook safety on a real server with real Redis', () => {
  test('gzip bodies are accepted; a gzip bomb is a 413; unknown encodings a 415; deep nesting a 400; over the limit a 413', async () => {
    await withWebhook('webhook-safety', { CRTRAIL_BODY_LIMIT: String(1024 * 1024) }, async (hook) => {
      const ok = await post(hook, gzipSync(eventList([event(1), event(2)])), { 'content-encoding': 'gzip' });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { accepted: 2 });
      // 50 MiB of spaces inside a valid JSON string compress to ~50 KiB.
      const bomb = gzipSync(Buffer.concat([Buffer.from('{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[],"x":"'), Buffer.alloc(50 * 1024 * 1024, 32), Buffer.from('"}')]));
      assert.ok(bomb.length < 1024 * 1024);
      const boom = await post(hook, bomb, { 'content-encoding': 'gzip' });
      assert.equal(boom.status, 413);
      assert.match((await boom.json()).reason, /limit/);
      const br = await post(hook, eventList([event(3)]), { 'content-encoding': 'br' });
      assert.equal(br.status, 415);
      assert.match((await br.json()).reason, /content-encoding "br"/);
      const deep = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[],"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
      const nested = await post(hook, deep);
      assert.equal(nested.status, 400);
      assert.match((await nested.json()).reason, /nested deeper than 128/);
      const big = await post(hook, eventList(Array.from({ length: 5000 }, (_, i) => event(i))));
      assert.equal(big.status, 413);
      assert.equal((await hook.queue.getWaiting()).length, 1, 'only the gzip batch is queued');
      assert.equal((await fetch(`${hook.url}/healthz`)).status, 200, 'still serving');
    });
  });

  test('a 12 MiB 400-event RequestResponse batch is accepted', async () => {
    await withWebhook('webhook-safety', {}, async (hook) => {
      const blob = 'x'.repeat(16_000);
      const items = Array.from({ length: 400 }, (_, i) => ({ ...event(i), level: 'RequestResponse', requestObject: { spec: { blob } }, responseObject: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', resourceVersion: String(i) }, spec: { blob } } }));
      const body = eventList(items);
      assert.ok(body.length > 12 * 1024 * 1024);
      const res = await post(hook, body);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { accepted: 400 });
    });
  });

  test('backpressure: over the waiting limit the answer is 429 with Retry-After', async () => {
    await withWebhook('webhook-safety', { CRTRAIL_QUEUE_MAX_WAITING: '2' }, async (hook) => {
      for (let i = 0; i < 3; i++) assert.equal((await post(hook, eventList([event(i)]))).status, 200);
      await new Promise((r) => setTimeout(r, 500)); // the waiting count is refreshed in the background
      const res = await post(hook, eventList([event(9)]));
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.equal((await hook.queue.getWaiting()).length, 3);
    });
  });

  test('Redis stopped → 503 + Retry-After within 2 s; accepted again once it is back; no ack without the batch in Redis', async () => {
    const port = await freePort();
    let redisServer = await startRedisServer(port);
    const prefix = uniquePrefix('redis-down');
    const hook = await startWebhook(loadEnv({ CRTRAIL_REDIS_URL: `redis://127.0.0.1:${port}`, CRTRAIL_INDEX_PREFIX: prefix, CRTRAIL_PORT: '0' }), false);
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
        await new Promise((r) => setTimeout(r, 200));
        status = (await post(hook, eventList([event(3)]))).status;
      }
      assert.equal(status, 200);
      // The fresh Redis (no persistence) holds exactly the batch acked after it came back.
      const jobs = await hook.queue.getWaiting();
      assert.deepEqual(jobs.map((j) => j.data.events.map((e) => e.auditID)), [['s-3']]);
    } finally {
      await hook.close();
      await redisServer.stop();
    }
  });
});
