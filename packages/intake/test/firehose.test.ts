import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { validateEvent, type AuditEvent } from '@crtrail/audit';
import {
  decodeFirehoseDelivery,
  firehoseHandler,
  firehoseResponse,
  type CloudWatchPayload,
  type FirehoseRequest,
} from '../src/index.js';
import { firehoseBody, fixtureJson, nativeWrites, withoutIntakeAnnotations } from './helpers.js';

const payloads = () => fixtureJson<CloudWatchPayload[]>('eks-cloudwatch-payloads.json');
const KEY = 'fh-key-0123456789abcdef';
const request = (over: Partial<FirehoseRequest> = {}): FirehoseRequest => ({
  headers: {
    'x-amz-firehose-access-key': KEY,
    'x-amz-firehose-request-id': 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f',
    'content-type': 'application/json',
  },
  body: firehoseBody(payloads()),
  ...over,
});
const handler = firehoseHandler({ accessKeys: ['older-key', KEY] });

test('a Firehose delivery of CloudWatch payloads yields exactly the apiserver events, in order, control and non-audit streams skipped', () => {
  const out = decodeFirehoseDelivery(request());
  assert.equal(out.requestId, 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f');
  assert.deepEqual(out.events.map(withoutIntakeAnnotations), nativeWrites());
  assert.ok(out.events.every((e) => e.annotations?.['crtrail.dev/source'] === 'eks'));
  assert.ok(out.events.every((e) => validateEvent(e).ok));
  assert.deepEqual(out.skipped, [
    { where: 'records[0]', reason: 'control-message' },
    { where: 'records[2].logEvents[0]', reason: 'not-audit-stream' },
  ]);
});

test('records already decompressed by Firehose (CloudWatch decompression on) and a gzip-encoded request body read the same', () => {
  const plain = decodeFirehoseDelivery(request({ body: firehoseBody(payloads(), { gzipRecords: false }) }));
  const gz = decodeFirehoseDelivery(
    request({
      headers: { ...request().headers, 'content-encoding': 'gzip' },
      body: gzipSync(firehoseBody(payloads())),
    }),
  );
  assert.deepEqual(plain.events, decodeFirehoseDelivery(request()).events);
  assert.deepEqual(gz.events, plain.events);
});

test('the documented response: 200 {requestId, timestamp} only after the sink resolved', async () => {
  const order: string[] = [];
  let release!: () => void;
  const sink = (events: AuditEvent[]) =>
    new Promise<void>((resolve) => {
      order.push(`sink ${events.length}`);
      release = () => {
        order.push('durable');
        resolve();
      };
    });
  const pending = handler(request(), sink);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['sink 5']);
  release();
  const reply = await pending;
  assert.equal(reply.status, 200);
  assert.equal(reply.body.requestId, 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f');
  assert.equal(typeof reply.body.timestamp, 'number');
  assert.equal('errorMessage' in reply.body, false);
  assert.equal(reply.headers['content-type'], 'application/json');
});

test("backpressure: the sink's 429/503 (with Retry-After) is the answer, with errorMessage; a plain failure is a 500", async () => {
  const full = Object.assign(new Error('3 batches are waiting for the workers; retry later'), {
    statusCode: 429,
    retryAfterSeconds: 5,
  });
  const reply = await handler(request(), () => Promise.reject(full));
  assert.equal(reply.status, 429);
  assert.equal(reply.headers['retry-after'], '5');
  assert.equal(reply.body.errorMessage, full.message);
  const crash = await handler(request(), () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')));
  assert.equal(crash.status, 500);
  assert.match(crash.body.errorMessage ?? '', /retried/);
  assert.doesNotMatch(crash.body.errorMessage ?? '', /6379/, 'internal details stay out of the provider-visible body');
});

test('access key: missing → 401, wrong → 403, both with the request id echoed and nothing delivered', async () => {
  let delivered = 0;
  const sink = async () => {
    delivered++;
  };
  const missing = await handler(request({ headers: { 'x-amz-firehose-request-id': 'r-1' } }), sink);
  assert.equal(missing.status, 401);
  assert.equal(missing.body.requestId, 'r-1');
  assert.match(missing.body.errorMessage ?? '', /X-Amz-Firehose-Access-Key is missing/);
  const wrong = await handler(
    request({ headers: { ...request().headers, 'x-amz-firehose-access-key': `${KEY}x` } }),
    sink,
  );
  assert.equal(wrong.status, 403);
  assert.equal(delivered, 0);
  assert.throws(() => firehoseHandler({ accessKeys: [] }), /at least one access key/);
});

test('bad input is a 400 naming the part, and nothing of the request is delivered', async () => {
  const records = (data: string) =>
    JSON.stringify({
      requestId: 'r-2',
      timestamp: 1,
      records: [{ data: gzipSync(JSON.stringify(payloads()[1])).toString('base64') }, { data }],
    });
  const cases: Array<[string, string | Buffer, RegExp, Record<string, string>?]> = [
    ['not JSON', '{"requestId":', /body: not valid JSON/],
    ['no requestId', JSON.stringify({ records: [{ data: '' }] }), /body\.requestId: required/],
    ['no records', JSON.stringify({ requestId: 'r', records: [] }), /body\.records: required/],
    ['bad base64', records('aGVsbG8*'), /records\[1\]\.data: not valid base64/],
    ['bad gzip', records(Buffer.from([0x1f, 0x8b, 1, 2, 3]).toString('base64')), /records\[1\]: not valid gzip/],
    ['record not JSON', records(gzipSync('hello').toString('base64')), /records\[1\]: not valid JSON/],
    ['not a subscription payload', records(gzipSync('{"hello":1}').toString('base64')), /records\[1\]\.messageType/],
    [
      'audit stream message that is not an audit event',
      records(
        gzipSync(
          JSON.stringify({
            ...payloads()[1],
            logEvents: [{ id: '1', timestamp: 1, message: '{"kind":"Event","verb":"get"}' }],
          }),
        ).toString('base64'),
      ),
      /records\[1\]\.logEvents\[0\]: event\.level: required/,
    ],
    ['body gzip claimed but absent', firehoseBody(payloads()), /body: not valid gzip/, { 'content-encoding': 'gzip' }],
  ];
  for (const [name, body, reason, extra] of cases) {
    let delivered = false;
    const reply = await handler(request({ body, headers: { ...request().headers, ...(extra ?? {}) } }), async () => {
      delivered = true;
    });
    assert.equal(reply.status, 400, name);
    assert.match(reply.body.errorMessage ?? '', reason, name);
    assert.equal(delivered, false, name);
  }
  const br = await handler(request({ headers: { ...request().headers, 'content-encoding': 'br' } }), async () => {});
  assert.equal(br.status, 415);
});

test('decompression is bounded: an inflated body or record past the limit is a 413 (Firehose does not retry it)', async () => {
  const small = firehoseHandler({ accessKeys: [KEY], maxInflatedBytes: 1024 });
  const body = gzipSync(firehoseBody(payloads()));
  const reply = await small(
    request({ headers: { ...request().headers, 'content-encoding': 'gzip' }, body }),
    async () => {},
  );
  assert.equal(reply.status, 413);
  const record = await small(request(), async () => {});
  assert.equal(record.status, 413);
  assert.match(record.body.errorMessage ?? '', /records\[1\]: more than 1024 bytes/);
});

test('a delivery of control messages only is answered 200 without touching the sink', async () => {
  const reply = await handler(request({ body: firehoseBody([payloads()[0]!]) }), () =>
    Promise.reject(new Error('must not be called')),
  );
  assert.equal(reply.status, 200);
  assert.deepEqual(reply.delivery?.skipped, [{ where: 'records[0]', reason: 'control-message' }]);
});

test('firehoseResponse truncates errorMessage at the documented 8192 characters', () => {
  const r = firehoseResponse('id', 'x'.repeat(9000), () => 42);
  assert.deepEqual(
    { ...r, errorMessage: r.errorMessage?.length },
    { requestId: 'id', timestamp: 42, errorMessage: 8192 },
  );
});
