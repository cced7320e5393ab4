import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { ClusterSecrets } from '../../src/intake-auth.js';
import { event, eventList, testApp } from '../helpers/webhook.js';
import { firehoseBody, firehoseHeaders, nativeWrites } from '../helpers/intake.js';
// Its module also declares the `app.backpressure` decoration (a Fastify augmentation).
import type { Backpressure } from '../../src/index.js';

const keys = () =>
  ClusterSecrets.parse(
    '# shop rotates: both keys are good\nkey-shop-old shop\nkey-shop-new shop\nkey-lab lab\n',
    'keys.txt',
  );
const firehoseApp = (options: Parameters<typeof testApp>[0] = {}) =>
  testApp({ auth: { intake: { firehose: keys() } }, ...options });
const ids = () => nativeWrites().map((e) => e.auditID);

describe('POST /intake/firehose/<cluster> (inject, in-memory sink)', () => {
  const t = firehoseApp();
  after(() => t.app.close());

  test("a delivery is acked with Firehose's body only once its events are written, as /audit writes them", async () => {
    const res = await t.post(firehoseBody(), firehoseHeaders('key-shop-new'), '/intake/firehose/shop');
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.requestId, 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f');
    assert.equal(typeof body.timestamp, 'number');
    assert.equal(body.errorMessage, undefined);
    // One delivery of four payloads (a control message, an authenticator line skipped) is one job of the five writes.
    assert.deepEqual(t.sink.written(), [{ cluster: 'shop', ids: ids() }]);
    assert.equal(await t.metric('crtrail_webhook_events_accepted_total{cluster="shop",service="webhook"}'), 5);
  });

  test("the old key of a rotation still works; a gzip'd body (Firehose content encoding GZIP) too", async () => {
    const before = t.sink.jobs.length;
    const res = await t.post(
      gzipSync(firehoseBody()),
      { ...firehoseHeaders('key-shop-old'), 'content-encoding': 'gzip' },
      '/intake/firehose/shop',
    );
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(t.sink.written().slice(before), [{ cluster: 'shop', ids: ids() }]);
  });

  test("auth: no key 401, a wrong key 403, another cluster's key 403, a cluster with no keys 403, a bad cluster name 400; nothing written", async () => {
    const before = t.sink.jobs.length;
    const cases: Array<[string | undefined, string, number, RegExp]> = [
      [undefined, 'shop', 401, /X-Amz-Firehose-Access-Key is missing/],
      ['key-nope', 'shop', 403, /does not match/],
      ['key-lab', 'shop', 403, /does not match/],
      ['key-shop-new', 'elsewhere', 403, /no Firehose access key is configured for cluster "elsewhere"/],
      ['key-shop-new', 'bad%20name', 400, /cluster name "bad name"/],
    ];
    for (const [key, cluster, status, reason] of cases) {
      const res = await t.post(firehoseBody(), firehoseHeaders(key, 'req-auth'), `/intake/firehose/${cluster}`);
      assert.equal(res.statusCode, status, `${key} → ${cluster}: ${res.body}`);
      // Firehose's response shape, its request id echoed, so the error bucket says why.
      assert.equal(res.json().requestId, 'req-auth');
      assert.match(res.json().errorMessage, reason);
    }
    assert.equal(t.sink.jobs.length, before);
    assert.equal(
      await t.metric('crtrail_webhook_batches_rejected_total{reason="CRTRAIL_ERR_FORBIDDEN",service="webhook"}'),
      3,
    );
    assert.equal(
      await t.metric('crtrail_webhook_batches_rejected_total{reason="CRTRAIL_ERR_UNAUTHORIZED",service="webhook"}'),
      1,
    );
  });

  test('bad bodies: 400 naming the part, 415 for another content type or encoding; nothing written', async () => {
    const before = t.sink.jobs.length;
    const notBase64 = JSON.stringify({ requestId: 'r-1', timestamp: 1, records: [{ data: '%%%' }] });
    const noRecords = JSON.stringify({ requestId: 'r-2', timestamp: 1, records: [] });
    const notAudit = JSON.stringify({
      requestId: 'r-3',
      timestamp: 1,
      records: [
        {
          data: Buffer.from(
            '{"messageType":"DATA_MESSAGE","logStream":"kube-apiserver-audit-1","logEvents":[{"id":"1","timestamp":1,"message":"{\\"auditID\\":1}"}]}',
          ).toString('base64'),
        },
      ],
    });
    const cases: Array<[string, Record<string, string>, number, RegExp]> = [
      ['{not json', {}, 400, /body: not valid JSON/],
      [notBase64, {}, 400, /records\[0\]\.data: not valid base64/],
      [noRecords, {}, 400, /body\.records: required/],
      [notAudit, {}, 400, /records\[0\]/],
      [firehoseBody(), { 'content-type': 'text/plain' }, 415, /content-type "text\/plain" is not supported/],
      [firehoseBody(), { 'content-encoding': 'br' }, 415, /content-encoding "br"/],
    ];
    for (const [body, headers, status, reason] of cases) {
      const res = await t.post(body, { ...firehoseHeaders('key-shop-new'), ...headers }, '/intake/firehose/shop');
      assert.equal(res.statusCode, status, `${body.slice(0, 40)} → ${res.body}`);
      assert.match(res.json().errorMessage, reason);
    }
    assert.equal(t.sink.jobs.length, before);
    assert.ok(
      (await t.metric(
        'crtrail_webhook_batches_rejected_total{reason="CRTRAIL_ERR_INTAKE_INVALID_BASE64",service="webhook"}',
      )) >= 1,
    );
  });

  test('an intake that is not configured has no route: 404', async () => {
    const plain = testApp();
    try {
      assert.equal(
        (await plain.post(firehoseBody(), firehoseHeaders('key-shop-new'), '/intake/firehose/shop')).statusCode,
        404,
      );
      assert.equal((await plain.post('{}', {}, '/intake/pubsub/shop')).statusCode, 404);
    } finally {
      await plain.app.close();
    }
  });
});

describe("Firehose: the queue's answer is the delivery's", () => {
  test("a write that fails → 503 with Retry-After in Firehose's body; over CRTRAIL_QUEUE_MAX_WAITING → 429 before the body is read", async () => {
    const t = firehoseApp({ maxWaiting: 1 });
    try {
      t.sink.failNextAdd = new Error('Connection is closed.');
      const failed = await t.post(firehoseBody(), firehoseHeaders('key-shop-new'), '/intake/firehose/shop');
      assert.equal(failed.statusCode, 503);
      assert.equal(failed.headers['retry-after'], '10');
      assert.match(failed.json().errorMessage, /queue unavailable: Connection is closed\./);
      assert.equal(t.sink.jobs.length, 0);
      // Two jobs waiting, one allowed: the next delivery is refused with the webhook's 429.
      await t.post(eventList([event(1)]));
      await t.post(eventList([event(2)]));
      const backpressure: Backpressure = t.app.backpressure;
      await backpressure.refresh();
      const full = await t.post(firehoseBody(), firehoseHeaders('key-shop-new'), '/intake/firehose/shop');
      assert.equal(full.statusCode, 429);
      assert.equal(full.headers['retry-after'], '5');
      assert.match(full.json().errorMessage, /^CRTRAIL_ERR_QUEUE_FULL: 2 batches are waiting/);
      assert.equal(t.sink.jobs.length, 2);
    } finally {
      await t.app.close();
    }
  });

  test('the 200 waits for the sink: not answered while the write is pending', async () => {
    const t = firehoseApp();
    try {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const add = t.sink.add.bind(t.sink);
      t.sink.add = async (jobs) => {
        await gate;
        return add(jobs);
      };
      let answered = false;
      const pending = t
        .post(firehoseBody(), firehoseHeaders('key-shop-new'), '/intake/firehose/shop')
        .then((r) => ((answered = true), r));
      await sleep(100);
      assert.equal(answered, false, 'no answer before the jobs are written');
      release();
      const res = await pending;
      assert.equal(res.statusCode, 200);
      assert.equal(t.sink.jobs.length, 1);
    } finally {
      await t.app.close();
    }
  });
});
