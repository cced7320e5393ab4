import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JOB_BOUNDS, splitBySize, splitEvents } from '../src/split.js';

const bytes = (e: unknown) => Buffer.byteLength(JSON.stringify(e), 'utf8');

/** Every chunk within bounds (or a lone oversized event), concatenation equal to the input in order. */
function assertSplit<T>(
  events: T[],
  chunks: { events: T[]; bytes: number }[],
  bounds: { maxEvents: number; maxBytes: number },
) {
  assert.deepEqual(
    chunks.flatMap((c) => c.events),
    events,
    'order kept, nothing dropped or added',
  );
  for (const c of chunks) {
    assert.ok(c.events.length >= 1, 'no empty chunk');
    assert.ok(c.events.length <= bounds.maxEvents, `${c.events.length} events > ${bounds.maxEvents}`);
    assert.equal(
      c.bytes,
      c.events.reduce((n, e) => n + bytes(e), 0),
      'bytes are the events’ JSON bytes',
    );
    if (c.events.length > 1) assert.ok(c.bytes <= bounds.maxBytes, `${c.bytes} bytes > ${bounds.maxBytes}`);
  }
}

test('a small batch is one chunk', () => {
  const events = [{ a: 1 }, { a: 2 }];
  const chunks = splitEvents(events);
  assert.equal(chunks.length, 1);
  assertSplit(events, chunks, JOB_BOUNDS);
  assert.deepEqual(splitEvents([]), []);
});

test('400 events of ~25 KB (a 20 MB batch) become chunks of at most 2 MiB, in order', () => {
  const blob = 'x'.repeat(25_000);
  const events = Array.from({ length: 400 }, (_, i) => ({ auditID: `e-${i}`, blob }));
  const chunks = splitEvents(events);
  assertSplit(events, chunks, JOB_BOUNDS);
  // 2 MiB holds 83 events of 25,030 bytes: 400 events → 5 chunks.
  assert.equal(chunks.length, Math.ceil(400 / Math.floor(JOB_BOUNDS.maxBytes / bytes(events[0]))));
});

test('60,000 small events are cut by the event bound', () => {
  const events = Array.from({ length: 60_000 }, (_, i) => ({ auditID: `e-${i}` }));
  const chunks = splitEvents(events);
  assertSplit(events, chunks, JOB_BOUNDS);
  assert.equal(chunks.length, 120);
  assert.ok(chunks.every((c) => c.events.length === 500));
});

test('an event larger than the byte bound gets a chunk of its own, between its neighbours', () => {
  const bounds = { maxEvents: 10, maxBytes: 100 };
  const events = [{ s: 'a' }, { s: 'b' }, { s: 'x'.repeat(500) }, { s: 'c' }];
  const chunks = splitEvents(events, bounds);
  assertSplit(events, chunks, bounds);
  assert.deepEqual(
    chunks.map((c) => c.events.map((e) => e.s[0])),
    [['a', 'b'], ['x'], ['c']],
  );
});

test('multi-byte characters count in UTF-8 bytes, not in string length', () => {
  const bounds = { maxEvents: 100, maxBytes: 40 };
  const events = [{ s: 'ééééé' }, { s: 'ééééé' }, { s: 'ééééé' }];
  // {"s":"ééééé"} is 18 bytes (13 characters): two fit in 40 bytes, three do not.
  const chunks = splitEvents(events, bounds);
  assert.deepEqual(
    chunks.map((c) => c.events.length),
    [2, 1],
  );
  assert.equal(chunks[0]!.bytes, 36);
});

test('both bounds are respected whichever is hit first; bad arguments are refused', () => {
  const sizes = [5, 5, 5, 5, 5, 90, 5];
  const events = sizes.map((_, i) => i);
  const chunks = splitBySize(events, sizes, { maxEvents: 3, maxBytes: 100 });
  assert.deepEqual(
    chunks.map((c) => c.events),
    [[0, 1, 2], [3, 4, 5], [6]],
  );
  assert.throws(() => splitBySize([1], [], JOB_BOUNDS), /1 events but 0 sizes/);
  assert.throws(() => splitBySize([1], [1], { maxEvents: 0, maxBytes: 1 }), /bounds/);
});

test('with an upper bound of the bytes that fits, nothing is measured: one chunk', () => {
  const events = [{ a: 1 }, { a: 2 }];
  assert.deepEqual(splitEvents(events, JOB_BOUNDS, 1000), [{ events, bytes: 1000 }]);
  // An upper bound over the byte bound, or too many events: measured and cut as without it.
  const many = Array.from({ length: 501 }, (_, i) => ({ i }));
  assert.equal(splitEvents(many, JOB_BOUNDS, 10).length, 2);
  const big = [{ s: 'x'.repeat(80) }, { s: 'y'.repeat(80) }];
  assert.equal(splitEvents(big, { maxEvents: 10, maxBytes: 100 }, 200).length, 2);
});
