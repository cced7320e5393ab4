import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { loadEnv } from '@crtrail/config';
import { ITEMWISE_MAX_BYTES, parseBody } from '../../src/plugins/body.js';
import { event, eventList, testApp } from '../helpers/webhook.js';
import { prng, randomValue } from '../helpers/random-json.js';

describe('request bodies (inject, in-memory sink)', () => {
  test('gzip bodies are accepted; a gzip bomb is a 413; unknown encodings a 415; deep nesting a 400; over the limit a 413', async () => {
    const t = testApp({ bodyLimit: 1024 * 1024 });
    try {
      const ok = await t.post(gzipSync(eventList([event(1), event(2)])), { 'content-encoding': 'gzip' });
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(ok.json(), { accepted: 2 });
      // 50 MiB of spaces inside a valid JSON string compress to ~50 KiB.
      const bomb = gzipSync(
        Buffer.concat([
          Buffer.from('{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[],"x":"'),
          Buffer.alloc(50 * 1024 * 1024, 32),
          Buffer.from('"}'),
        ]),
      );
      assert.ok(bomb.length < 1024 * 1024);
      const boom = await t.post(bomb, { 'content-encoding': 'gzip' });
      assert.equal(boom.statusCode, 413);
      assert.equal(boom.json().error, 'CRTRAIL_ERR_BODY_TOO_LARGE');
      assert.match(boom.json().reason, /limit of 1048576 bytes/);
      const br = await t.post(eventList([event(3)]), { 'content-encoding': 'br' });
      assert.equal(br.statusCode, 415);
      assert.match(br.json().reason, /content-encoding "br"/);
      const deep = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[],"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
      const nested = await t.post(deep);
      assert.equal(nested.statusCode, 400);
      assert.match(nested.json().reason, /nested deeper than 128/);
      const big = await t.post(eventList(Array.from({ length: 5000 }, (_, i) => event(i))));
      assert.equal(big.statusCode, 413);
      assert.equal(t.sink.jobs.length, 1, 'only the gzip batch is written');
      assert.equal((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still serving');
    } finally {
      await t.app.close();
    }
  });

  test('a 12 MiB 400-event RequestResponse batch is accepted under the default body limit', async () => {
    const t = testApp({ bodyLimit: loadEnv({}).CRTRAIL_BODY_LIMIT });
    try {
      const blob = 'x'.repeat(16_000);
      const items = Array.from({ length: 400 }, (_, i) => ({
        ...event(i),
        level: 'RequestResponse',
        requestObject: { spec: { blob } },
        responseObject: {
          apiVersion: 'example.com/v1',
          kind: 'Widget',
          metadata: { name: 'w', resourceVersion: String(i) },
          spec: { blob },
        },
      }));
      const body = eventList(items);
      assert.ok(body.length > 12 * 1024 * 1024);
      const res = await t.post(body);
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { accepted: 400 });
    } finally {
      await t.app.close();
    }
  });

  test('invalid UTF-8 is a 400 naming the byte, plain or gzip', async () => {
    const t = testApp();
    try {
      const good = Buffer.from(eventList([{ ...event(1), user: { username: 'zoë' } }]));
      const at = good.indexOf('zo') + 2;
      const bad = Buffer.concat([good.subarray(0, at), Buffer.from([0xc3]), good.subarray(at + 2)]);
      for (const [body, headers] of [
        [bad, {}],
        [gzipSync(bad), { 'content-encoding': 'gzip' }],
      ] as const) {
        const res = await t.post(body, headers);
        assert.equal(res.statusCode, 400);
        assert.deepEqual(res.json(), {
          error: 'CRTRAIL_ERR_INVALID_BATCH',
          reason: `body: invalid UTF-8 at byte ${at}`,
          statusCode: 400,
        });
      }
      assert.equal(t.sink.jobs.length, 0);
    } finally {
      await t.app.close();
    }
  });

  test('the parse: a BOM is skipped, ASCII and UTF-8 bodies alike; nesting up to 128 levels passes; prototype keys are a 400', async () => {
    const t = testApp();
    try {
      const bom = await t.post(
        Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(eventList([event('bom')]))]),
      );
      assert.equal(bom.statusCode, 200, bom.body);
      const utf8 = await t.post(eventList([{ ...event('u'), user: { username: 'zoë 😀' } }]));
      assert.equal(utf8.statusCode, 200, utf8.body);
      const nest = (n: number): unknown => (n === 0 ? 1 : { a: nest(n - 1) });
      // The root (1), items (2), the event (3), requestObject (4) and 124 more: 128 in all.
      const deepest = await t.post(eventList([{ ...event('deep'), requestObject: nest(125) }]));
      assert.equal(deepest.statusCode, 200, deepest.body);
      const deeper = await t.post(eventList([{ ...event('deeper'), requestObject: nest(126) }]));
      assert.equal(deeper.statusCode, 400);
      assert.match(deeper.json().reason, /nested deeper than 128/);
      const deepProto = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[],"x":${'['.repeat(200)}{"__proto__":{}}${']'.repeat(200)}}`;
      const proto = await t.post(deepProto);
      assert.equal(proto.statusCode, 400);
      assert.equal(
        proto.json().error,
        'CRTRAIL_ERR_INVALID_JSON',
        'the prototype key is found even past the depth limit',
      );
      const escaped = await t.post(
        '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"constructor":{"prototype":{}}}]}',
      );
      assert.equal(escaped.statusCode, 400);
      assert.match(escaped.json().reason, /prototype/);
      const named = await t.post(eventList([{ ...event('v'), annotations: { note: '__proto__', constructor: 'x' } }]));
      assert.equal(named.statusCode, 200, 'a key `constructor` without a prototype, and such values, are fine');
      assert.deepEqual(
        t.sink.written().map((j) => j.ids[0]),
        ['bom', 'u', 'deep', 'v'],
      );
    } finally {
      await t.app.close();
    }
  });
});

/** What JSON.parse makes of the bytes (as the body plugin decodes them), or the error it throws. */
function wholeParse(bytes: Buffer): { value: unknown } | { error: string } {
  try {
    const text = bytes.toString('utf8');
    return { value: JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** parseBody's value, or its error's code and message. */
function bodyParse(bytes: Buffer): { value: unknown } | { error: string; code: string } {
  try {
    return { value: parseBody(bytes).value };
  } catch (err) {
    return { error: (err as Error).message, code: (err as { code: string }).code };
  }
}

describe('parseBody: an EventList parsed item by item is what JSON.parse makes of it', () => {
  test('the same value, keys in the same order, however the body is spaced, encoded or repeats its items key', () => {
    const rand = prng(23);
    for (let round = 0; round < 300; round++) {
      const items = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => randomValue(rand, 4));
      const doc = { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', before: randomValue(rand, 2), items, z: 1 };
      const texts = [JSON.stringify(doc), JSON.stringify(doc, null, 2), `\uFEFF${JSON.stringify(doc, null, '\t')}`];
      texts.push(`{"items":[1],${JSON.stringify(doc).slice(1)}`, ` \r\n${JSON.stringify(doc)}\n `);
      for (const text of texts) {
        const got = parseBody(Buffer.from(text)).value;
        const want = wholeParse(Buffer.from(text));
        assert.ok('value' in want, text);
        assert.deepStrictEqual(got, want.value, text);
        assert.equal(JSON.stringify(got), JSON.stringify(want.value), 'keys in the same order');
      }
    }
  });

  test('a body JSON.parse refuses is refused with its error, whatever was cut, added or swapped', () => {
    const rand = prng(29);
    const pieces = ['[', ']', '{', '}', ',', ':', '"', '\\', ' ', 'x', '1', 'é'];
    let refused = 0;
    for (let round = 0; round < 3000; round++) {
      const items = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => randomValue(rand, 3));
      const text = JSON.stringify({ kind: 'EventList', items }, null, rand() < 0.5 ? 1 : 0);
      const at = Math.floor(rand() * text.length);
      const cut = Math.floor(rand() * 3);
      const mutated =
        text.slice(0, at) + (rand() < 0.7 ? pieces[Math.floor(rand() * pieces.length)] : '') + text.slice(at + cut);
      const bytes = Buffer.from(mutated);
      const want = wholeParse(bytes);
      const got = bodyParse(bytes);
      if ('error' in want) {
        refused++;
        assert.ok('error' in got && got.code === 'CRTRAIL_ERR_INVALID_JSON', mutated);
        assert.equal(got.error, `body is not valid JSON: ${want.error}`, mutated);
      } else {
        assert.ok('value' in got, mutated);
        assert.deepStrictEqual(got.value, want.value, mutated);
      }
    }
    assert.ok(refused > 1000, `most mutations break the JSON (${refused} of 3000)`);
  });

  test('a body over ITEMWISE_MAX_BYTES is parsed whole, to the same value and spans', () => {
    const items = Array.from({ length: 60 }, (_, i) => ({ i, blob: 'é'.repeat(50_000), n: [i, { x: null }] }));
    const bytes = Buffer.from(JSON.stringify({ kind: 'EventList', items }));
    assert.ok(bytes.length > ITEMWISE_MAX_BYTES);
    const { value, source } = parseBody(bytes);
    assert.deepStrictEqual(value, { kind: 'EventList', items });
    assert.equal(source.items!.spans.length, 120);
  });

  test('each kept item keeps its span: the bytes of an item parse to that item', () => {
    const text = '{"kind":"EventList", "items": [ {"a":"é,]"} ,\n [1, {"b":null}] ] }';
    const { value, source } = parseBody(Buffer.from(text));
    const spans = source.items!.spans;
    const items = (value as { items: unknown[] }).items;
    assert.equal(spans.length, 2 * items.length);
    for (let i = 0; i < items.length; i++)
      assert.deepStrictEqual(
        JSON.parse(source.bytes.subarray(spans[2 * i], spans[2 * i + 1]).toString('utf8')),
        items[i],
      );
  });
});
