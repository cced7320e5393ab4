import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplicasBehindError } from '../../src/batch-sink.js';
import { event, eventList, testApp } from '../helpers/webhook.js';

describe('POST /audit/<cluster> (inject, in-memory sink)', () => {
  const t = testApp();
  after(() => t.app.close());

  test('a valid batch is acked with its event count, one job per batch', async () => {
    const res = await t.post(eventList([event(1), event(2), event(3)]));
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { accepted: 3 });
    assert.deepEqual(t.sink.written(), [{ cluster: 'c1', ids: ['a-1', 'a-2', 'a-3'] }]);
    assert.equal(t.sink.jobs[0]!.batch, undefined, 'one job: no batch id');
    assert.equal(await t.metric('crtrail_webhook_events_accepted_total{cluster="c1",service="webhook"}'), 3);
  });

  test('bad bodies get 4xx with a reason and enqueue nothing', async () => {
    const before = t.sink.jobs.length;
    const cases: Array<[string, Record<string, string> | undefined, number, RegExp]> = [
      ['{not json', undefined, 400, /JSON/i],
      [JSON.stringify({ kind: 'Pod', apiVersion: 'v1', items: [] }), undefined, 400, /body\.kind/],
      [
        JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1beta1', items: [] }),
        undefined,
        400,
        /body\.apiVersion/,
      ],
      [JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1' }), undefined, 400, /body\.items/],
      [eventList([event(1), { ...event(2), auditID: undefined }]), undefined, 400, /items\[1\]\.auditID/],
      [eventList([event(1), { ...event(2), stage: 'Done' }]), undefined, 400, /items\[1\]\.stage/],
      [eventList([{ ...event(1), kind: 'Pod' }]), undefined, 400, /items\[0\]\.kind/],
      [eventList([event(1)]), { 'content-type': 'text/plain' }, 415, /content-type/i],
      [
        '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[],"__proto__":{"x":1}}',
        undefined,
        400,
        /prototype/i,
      ],
    ];
    for (const [body, headers, status, reason] of cases) {
      const res = await t.post(body, headers);
      assert.equal(res.statusCode, status, `${body} → ${res.body}`);
      assert.match(res.json().reason, reason);
    }
    const badCluster = await t.post(eventList([event(1)]), undefined, '/audit/bad%20name');
    assert.equal(badCluster.statusCode, 400);
    assert.equal(badCluster.json().error, 'CRTRAIL_ERR_INVALID_CLUSTER');
    assert.match(badCluster.json().reason, /^cluster name "bad name": letters, digits/);
    assert.equal(t.sink.jobs.length, before, 'nothing more was written');
  });

  test('POST /audit files the batch under the default cluster', async () => {
    const res = await t.post(eventList([event('d-1')]), {}, '/audit');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(t.sink.written().at(-1), { cluster: 'default', ids: ['d-1'] });
  });

  test('only custom-resource mutations are written; the ack counts every event of the batch', async () => {
    const before = t.sink.jobs.length;
    const read = { ...event('r-1'), verb: 'get' };
    const builtIn = {
      ...event('p-1'),
      requestURI: '/api/v1/namespaces/x/pods/p',
      objectRef: { resource: 'pods', namespace: 'x', name: 'p' },
    };
    const onlyDropped = await t.post(eventList([read, builtIn]));
    assert.equal(onlyDropped.statusCode, 200);
    assert.deepEqual(onlyDropped.json(), { accepted: 2 });
    assert.equal(t.sink.jobs.length, before, 'no job for a batch with nothing to keep');
    const mixed = await t.post(eventList([read, event('m-1'), builtIn]));
    assert.deepEqual(mixed.json(), { accepted: 3 });
    assert.deepEqual(t.sink.written().at(-1), { cluster: 'c1', ids: ['m-1'] });
  });
});

describe('what a job carries: the kept events as the worker reads them', () => {
  test('the events as sent (spacing, escapes, any field order), the redacted ones as redacted, in order, across parts', async () => {
    const t = testApp({
      // Redaction here: one event's secret is replaced; the others are returned as they are.
      redact: (e) =>
        (e as { auditID: string }).auditID === 'secret'
          ? ({ ...e, requestObject: { data: { password: 'sha256:redacted' } } } as typeof e)
          : e,
      jobBounds: { maxEvents: 2, maxBytes: 1024 * 1024 },
    });
    try {
      const spaced = {
        ...event('spaced'),
        annotations: { 'a"b': 'é \u00e9 ]}' },
        requestObject: { n: [1.5, -2, 1e3] },
      };
      const secret = { ...event('secret'), requestObject: { data: { password: 'hunter2' } } };
      const negativeZero =
        '{"level":"Metadata","auditID":"zero","stage":"ResponseComplete","requestURI":"/apis/example.com/v1/namespaces/x/widgets/w","verb":"patch","user":{"username":"alice"},"objectRef":{"apiGroup":"example.com","resource":"widgets","namespace":"x","name":"w"},"requestObject":{"n":-0}}';
      // A key repeated in one object: JSON.parse keeps the last, so the first (unseen by redaction) must not reach the job.
      const repeated = JSON.stringify({ ...event('repeated'), requestObject: { data: 'hidden' } }).replace(
        '"requestObject":{"data":"hidden"}',
        '"requestObject":{"data":"hidden"},"requestObject":{"data":"shown"}',
      );
      const dropped = { ...event('read'), verb: 'get' };
      const body = `{ "kind" : "EventList", "apiVersion": "audit.k8s.io/v1", "items" : [\n ${JSON.stringify(spaced, null, 2)} ,${JSON.stringify(dropped)},${JSON.stringify(secret)}, ${negativeZero},${repeated}\n] }`;
      const res = await t.post(body);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { accepted: 5 });
      assert.deepEqual(
        t.sink.written().map((j) => j.ids),
        [
          ['spaced', 'secret'],
          ['zero', 'repeated'],
        ],
      );
      const [first, second] = t.sink.jobs;
      assert.deepEqual(first!.events[0], spaced);
      assert.deepEqual(first!.events[1]!.requestObject, { data: { password: 'sha256:redacted' } });
      assert.ok(
        Object.is((second!.events[0]!.requestObject as { n: number }).n, 0),
        '-0 is written as JSON.stringify writes it',
      );
      assert.deepEqual([first!.part, first!.parts, second!.part, second!.parts], [1, 2, 2, 2]);
      assert.equal(first!.batch, second!.batch);
      assert.ok(!t.sink.raw.some((j) => j.includes('hidden')), 'the repeated key’s first value is in no job');
      assert.deepEqual(second!.events[1]!.requestObject, { data: 'shown' });
    } finally {
      await t.app.close();
    }
  });
});

describe('what the sink says becomes the answer', () => {
  test('a write that fails → 503 CRTRAIL_ERR_QUEUE_UNAVAILABLE with Retry-After, nothing counted as accepted', async () => {
    const t = testApp();
    try {
      t.sink.failNextAdd = new Error('Connection is closed.');
      const res = await t.post(eventList([event(1)]));
      assert.equal(res.statusCode, 503);
      assert.equal(res.headers['retry-after'], '10');
      assert.deepEqual(res.json(), {
        error: 'CRTRAIL_ERR_QUEUE_UNAVAILABLE',
        reason: 'queue unavailable: Connection is closed.',
        statusCode: 503,
      });
      assert.equal(t.sink.jobs.length, 0);
      assert.equal(await t.metric('crtrail_webhook_events_accepted_total{cluster="c1",service="webhook"}'), 0);
      assert.equal(
        await t.metric(
          'crtrail_webhook_batches_rejected_total{reason="CRTRAIL_ERR_QUEUE_UNAVAILABLE",service="webhook"}',
        ),
        1,
      );
      // The next write goes through: the sink, not the webhook, held the failure.
      assert.equal((await t.post(eventList([event(2)]))).statusCode, 200);
    } finally {
      await t.app.close();
    }
  });

  test('replicas behind → 503 CRTRAIL_ERR_REPLICAS_BEHIND naming the count and the wait, with Retry-After', async () => {
    const t = testApp();
    try {
      t.sink.failNextAdd = new ReplicasBehindError(0, 1, 1000);
      const res = await t.post(eventList([event(1)]));
      assert.equal(res.statusCode, 503);
      assert.equal(res.headers['retry-after'], '5');
      assert.equal(res.json().error, 'CRTRAIL_ERR_REPLICAS_BEHIND');
      assert.equal(
        res.json().reason,
        'batch written, but only 0 of 1 Redis replicas confirmed it within 1000 ms (CRTRAIL_REDIS_WAIT_REPLICAS); retry later',
      );
    } finally {
      await t.app.close();
    }
  });

  test('redaction that cannot read the kind table → 503 and nothing written; redact runs on the kept events only', async () => {
    const failing = testApp({ prepareRedaction: () => Promise.reject(new Error('Redis is away')) });
    const seen: string[] = [];
    const redacting = testApp({
      prepareRedaction: async (events) => void seen.push(...events.map((e) => e.auditID)),
      redact: (e) => ({ ...e, user: { username: 'redacted' } }),
    });
    try {
      const refused = await failing.post(eventList([event(1)]));
      assert.equal(refused.statusCode, 503);
      assert.match(refused.json().reason, /Redis is away/);
      assert.ok(refused.headers['retry-after']);
      assert.equal(failing.sink.jobs.length, 0);

      const ok = await redacting.post(eventList([{ ...event('g-1'), verb: 'get' }, event('k-1')]));
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(seen, ['k-1']);
      assert.deepEqual(
        redacting.sink.jobs.map((j) => j.events.map((e) => e.user.username)),
        [['redacted']],
      );
    } finally {
      await failing.app.close();
      await redacting.app.close();
    }
  });

  test('a batch over the job bounds is cut into parts carrying one batch id, in order', async () => {
    const t = testApp({ jobBounds: { maxEvents: 2, maxBytes: 1024 * 1024 } });
    try {
      const res = await t.post(eventList([1, 2, 3, 4, 5].map(event)));
      assert.equal(res.statusCode, 200);
      assert.deepEqual(
        t.sink.jobs.map((j) => j.events.map((e) => e.auditID)),
        [['a-1', 'a-2'], ['a-3', 'a-4'], ['a-5']],
      );
      const batch = t.sink.jobs[0]!.batch;
      assert.ok(batch);
      assert.deepEqual(
        t.sink.jobs.map((j) => [j.batch, j.part, j.parts]),
        [
          [batch, 1, 3],
          [batch, 2, 3],
          [batch, 3, 3],
        ],
      );
      assert.equal(await t.metric('crtrail_webhook_jobs_per_batch_sum{service="webhook"}'), 3);
    } finally {
      await t.app.close();
    }
  });
});
