import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { countKeys, scanJson } from '../../src/plugins/json-shape.js';
import { prng, randomValue } from '../helpers/random-json.js';

const scan = (text: string, maxDepth = 128) => scanJson(Buffer.from(text), maxDepth);

/** The items' spans, each parsed back: what the webhook would write for each item. */
function itemsBack(text: string): unknown[] | undefined {
  const bytes = Buffer.from(text);
  const items = scanJson(bytes, 128).items;
  if (!items) return undefined;
  const out: unknown[] = [];
  for (let i = 0; i < items.spans.length; i += 2) {
    out.push(JSON.parse(bytes.subarray(items.spans[i], items.spans[i + 1]).toString('utf8')));
  }
  return out;
}

describe('scanJson: one pass over a parsed body’s bytes', () => {
  test('finds each item of the root `items` array, whatever its strings hold and however it is spaced', () => {
    const rand = prng(7);
    for (let round = 0; round < 300; round++) {
      const items = Array.from({ length: Math.floor(rand() * 6) }, () => randomValue(rand, 4));
      const doc = { kind: 'EventList', before: randomValue(rand, 3), items, after: randomValue(rand, 3) };
      for (const text of [JSON.stringify(doc), JSON.stringify(doc, null, 2), JSON.stringify(doc, null, '\t')]) {
        assert.deepEqual(itemsBack(text), items, text);
      }
    }
  });

  test('each item’s keys are counted as its parsed value counts them, unless a key repeats in one object', () => {
    const rand = prng(11);
    for (let round = 0; round < 100; round++) {
      const items = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => randomValue(rand, 4));
      const shape = scan(JSON.stringify({ items }, null, rand() < 0.5 ? 1 : 0));
      assert.deepEqual(shape.items!.keys, items.map(countKeys));
    }
    const repeated = scan('{"items":[{"a":{"s":"x:y","s":1}},{"b":[{"c":1}],"d":{}}]}');
    assert.deepEqual(repeated.items!.keys, [3, 3]);
    assert.deepEqual([countKeys({ a: { s: 1 } }), countKeys({ b: [{ c: 1 }], d: {} })], [2, 3]);
  });

  test('the last `items` key wins, as in JSON.parse; an escaped key is still `items`; no array, no spans', () => {
    assert.deepEqual(itemsBack('{"items":[1,2],"items":[{"a":3}]}'), [{ a: 3 }]);
    assert.deepEqual(itemsBack('{"\\u0069tems":[{"b":1}, {"c":2}]}'), [{ b: 1 }, { c: 2 }]);
    assert.deepEqual(itemsBack('{"items":[ ]}'), []);
    assert.equal(scan('{"items":{"a":[1]}}').items, undefined);
    assert.equal(scan('{"items":[1],"items":5}').items, undefined);
    assert.equal(scan('[{"items":[1]}]').items, undefined, 'only the root object’s items');
    assert.deepEqual(itemsBack('{"x":{"items":[9]},"items":[1]}'), [1], 'a nested items is not the root’s');
  });

  test('depth counts the root as level 1, objects and arrays alike, and stops at the limit', () => {
    const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
    assert.equal(scan(nest(128)).tooDeep, false);
    assert.equal(scan(nest(129)).tooDeep, true);
    assert.equal(scan(`{"a":{"b":${nest(127)}}}`).tooDeep, true);
    assert.equal(scan(`{"a":"${'['.repeat(500)}"}`).tooDeep, false, 'brackets in a string are text');
    assert.equal(scan(nest(10_000)).tooDeep, true);
  });

  test('a key that is or unescapes to __proto__ or constructor is suspect; a value that reads so is not', () => {
    assert.equal(scan('{"__proto__":{"x":1}}').suspectKeys, true);
    assert.equal(scan('{"a":{"constructor" :{"prototype":1}}}').suspectKeys, true);
    assert.equal(scan('{"\\u005f_proto__":1}').suspectKeys, true);
    assert.equal(scan('{"constructo\\u0072":1}').suspectKeys, true);
    assert.equal(scan('{"a":"__proto__","b":["constructor"]}').suspectKeys, false);
    assert.equal(scan('{"annotations":{"__proto_x":1,"constructors":2}}').suspectKeys, false);
  });

  test('items holding a number that would not read back the same once re-serialized are marked', () => {
    const text =
      '{"items":[{"a":1.5,"b":-3,"c":true,"d":false,"e":null},{"a":-0},{"a":1e400},{"a":2E3},[-0.5],{"s":"-0 1e400"}]}';
    const items = scan(text).items!;
    assert.deepEqual([...items.reserialize].sort(), [1, 2, 3, 4]);
    assert.equal(scan(`{"items":[${'9'.repeat(301)}]}`).items!.reserialize.has(0), true);
    assert.equal(scan(`{"items":[${'9'.repeat(20)}]}`).items!.reserialize.has(0), false);
  });

  test('a text no JSON has is `broken`; the items array’s brackets are where they stand', () => {
    assert.equal(scan('{"a":"b').broken, true, 'a string left open');
    assert.equal(scan('{"items":[1,2}').broken, true, 'the items array closed by a brace');
    assert.equal(scan('{"a":1}}').broken, true, 'a bracket closing what was not open');
    assert.equal(scan('{"a":[1]').broken, true, 'left open at the end');
    assert.equal(scan('{"\\u00zz":1}').broken, true, 'a key whose escape JSON.parse refuses');
    assert.equal(scan('{"items":[1, 2]} ').broken, false);
    const text = ' {"kind":"EventList", "items" : [ {"a":1} , 2 ] , "z":0}';
    const items = scan(text).items!;
    assert.equal(text[items.open], '[');
    assert.equal(text[items.close], ']');
    assert.equal(text.slice(items.open, items.close + 1), '[ {"a":1} , 2 ]');
  });
});
