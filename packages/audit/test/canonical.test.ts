import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fixturesDir } from '@crtrail/testkit';
import { canonicalJson, rememberCanonical, stringifyReusing } from '../src/index.js';

const reference = createRequire(import.meta.url)('canonicalize') as (v: unknown) => string | undefined;

test('canonical JSON equals the canonicalize reference on every real audit event', () => {
  const dir = join(fixturesDir(), 'public');
  let n = 0;
  for (const f of readdirSync(dir)) {
    const text = readFileSync(join(dir, f), 'utf8').replace(/^\uFEFF/, '');
    const docs = f.endsWith('.json')
      ? JSON.parse(text).items
      : text
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l));
    for (const d of docs) {
      assert.equal(canonicalJson(d), reference(d));
      n++;
    }
  }
  assert.ok(n > 600);
});

test('RFC 8785 corner cases: key order by UTF-16 code units, numbers as ECMAScript prints them, undefined dropped', () => {
  const v = { '\u20ac': 1, '\r': 2, '\ud83d\ude00': 3, a: [1e21, 1e-7, -0, 0.1, undefined], b: undefined, c: 'é\n"' };
  assert.equal(canonicalJson(v), reference(v));
  assert.equal(canonicalJson({ b: 1, a: { d: 2, c: 3 } }), '{"a":{"c":3,"d":2},"b":1}');
  assert.throws(() => canonicalJson({ x: Number.NaN }), /not allowed/);
});

test('property: equals the reference on any JSON value, sorted or not', async () => {
  const fc = (await import('fast-check')).default;
  fc.assert(
    fc.property(fc.jsonValue(), (v) => canonicalJson(v) === reference(v)),
    { numRuns: 2000 },
  );
  const withDate = { b: new Date(0), a: [{ toJSON: () => ({ z: 1, y: 2 }) }] };
  assert.equal(canonicalJson(withDate), reference(withDate));
});

test('property: remembered texts are the canonical ones, and reused inside containing values', async () => {
  const fc = (await import('fast-check')).default;
  fc.assert(
    fc.property(
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.boolean(),
      (state, other, members) => {
        const text = rememberCanonical(state, members);
        // A response body sharing the state's members (as a stored state shares spec and status).
        const container = { z: 1, body: { ...other, ...state }, a: state };
        const reused = stringifyReusing({ entry: container, n: 1 });
        return (
          text === reference(state) &&
          rememberCanonical(container) === reference(container) &&
          canonicalJson(JSON.parse(reused)) === reference({ entry: container, n: 1 }) &&
          canonicalJson(JSON.parse(stringifyReusing(container))) === reference(container)
        );
      },
    ),
    { numRuns: 500 },
  );
});

test('canonicalJson never reuses a remembered text: what a verifier is given is what it hashes', () => {
  const state = { spec: { replicas: 1 }, status: { ready: true } };
  rememberCanonical(state);
  const record = { kubernetes: { audit: { responseObject: state } } };
  rememberCanonical(record);
  state.spec.replicas = 2;
  assert.equal(canonicalJson(record), reference(record));
  assert.match(canonicalJson(record)!, /"replicas":2/);
});
