import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoff, retry } from '../src/index.js';

// The policies of the callers, written out here so that a change of their numbers shows in review.
const JOB = { initialDelayMs: 500, factor: 2, maxDelayMs: 30_000 };
const REPLAY = { initialDelayMs: 500, factor: 2, maxDelayMs: 10_000 };
const BULK = { initialDelayMs: 200, factor: 2, maxDelayMs: 10_000, jitter: 0.2 };

test('backoff doubles from the initial delay and stops at the cap', () => {
  assert.deepEqual(
    Array.from({ length: 9 }, (_, n) => backoff(JOB, n)),
    [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000],
  );
  assert.deepEqual(
    Array.from({ length: 6 }, (_, n) => backoff(REPLAY, n)),
    [500, 1_000, 2_000, 4_000, 8_000, 10_000],
  );
  assert.equal(backoff({ initialDelayMs: 100, factor: 3, maxDelayMs: 1e9 }, 4), 8_100);
});

test('backoff matches the arithmetic each caller had before (formulas copied from the old code)', () => {
  const oldJob = (attemptsMade: number) => Math.min(30_000, 500 * 2 ** Math.max(0, attemptsMade - 1));
  const oldReplay = (attempt: number) => Math.min(10_000, 500 * 2 ** attempt);
  for (let a = 0; a < 200; a++) {
    assert.equal(backoff(JOB, Math.max(0, a - 1)), oldJob(a));
    assert.equal(backoff(REPLAY, a), oldReplay(a));
  }
});

test('jitter spreads a delay over ± its fraction, in whole ms, and both ends are reached', () => {
  for (let n = 0; n < 10; n++) {
    const base = Math.min(10_000, 200 * 2 ** n);
    const seen = Array.from({ length: 2_000 }, () => backoff(BULK, n));
    for (const d of seen) {
      assert.ok(Number.isInteger(d), `${d} is whole`);
      assert.ok(d >= Math.round(base * 0.8) && d <= Math.round(base * 1.2), `${d} within ±20 % of ${base}`);
    }
    // Spread, not a constant: the lowest and highest of 2,000 draws are far apart.
    assert.ok(Math.max(...seen) - Math.min(...seen) > base * 0.3, `delays of retry ${n} are spread`);
  }
});

test('retry resolves with the first success, waiting the backoff between attempts', async () => {
  const calls: number[] = [];
  const started = Date.now();
  const value = await retry(
    async (attempt) => {
      calls.push(attempt);
      if (attempt < 2) throw new Error(`fail ${attempt}`);
      return 'ok';
    },
    { attempts: 5, initialDelayMs: 40, factor: 2, maxDelayMs: 1_000 },
  );
  assert.equal(value, 'ok');
  assert.deepEqual(calls, [0, 1, 2]);
  assert.ok(Date.now() - started >= 40 + 80 - 5, 'waited 40 ms, then 80 ms');
});

test('retry rethrows the last failure once the attempts are spent', async () => {
  let calls = 0;
  await assert.rejects(
    retry(
      async (attempt) => {
        calls++;
        throw new Error(`fail ${attempt}`);
      },
      { attempts: 3, initialDelayMs: 1, factor: 2, maxDelayMs: 5 },
    ),
    /fail 2/,
  );
  assert.equal(calls, 3);
});

test('retry gives up at once on a failure retryable refuses', async () => {
  let calls = 0;
  await assert.rejects(
    retry(
      async () => {
        calls++;
        throw Object.assign(new Error('bad request'), { status: 400 });
      },
      { attempts: 5, initialDelayMs: 1, factor: 2, maxDelayMs: 5 },
      { retryable: (err) => (err as { status?: number }).status !== 400 },
    ),
    /bad request/,
  );
  assert.equal(calls, 1);
});
