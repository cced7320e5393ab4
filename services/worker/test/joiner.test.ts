import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import type { AuditEvent } from '@crtrail/audit';
import type { BatchJob } from '@crtrail/queue';
import { JobJoiner } from '../src/joiner.js';

// `bytes` null: a job of an older webhook, which did not write it.
const jobOf = (name: string, events: number, bytes: number | null = events * 1000): BatchJob => ({
  cluster: name,
  receivedAt: 0,
  events: Array.from({ length: events }, (_, i) => ({ auditID: `${name}-${i}` }) as AuditEvent),
  ...(bytes === null ? {} : { bytes }),
});

/** A unit runner that records each unit's jobs and finishes when told. */
function recorder() {
  const units: string[][] = [];
  /** Per unit: whether it was run as a retried job's (exclusive in the worker's pipeline). */
  const alone: boolean[] = [];
  const finish: Array<(fail?: Error) => void> = [];
  const run = (jobs: BatchJob[], retried: boolean) => {
    units.push(jobs.map((j) => j.cluster));
    alone.push(retried);
    return new Promise<string[]>((resolve, reject) =>
      finish.push((fail) => (fail ? reject(fail) : resolve(jobs.map((j) => `done ${j.cluster}`)))),
    );
  };
  return { units, alone, finish, run };
}

describe('JobJoiner', () => {
  test('jobs waiting while a unit runs go into the next unit together, in order, each with its own result', async () => {
    const r = recorder();
    const joiner = new JobJoiner(r.run, { maxEvents: 100, maxBytes: 1e6, inflight: 1 });
    const first = joiner.submit(jobOf('a', 10));
    await tick();
    const rest = ['b', 'c', 'd'].map((n) => joiner.submit(jobOf(n, 10)));
    await tick();
    assert.deepEqual(r.units, [['a']], 'one unit at a time: the others wait');
    r.finish[0]!();
    assert.equal(await first, 'done a');
    for (let i = 0; i < 3; i++) await tick();
    assert.deepEqual(r.units, [['a'], ['b', 'c', 'd']]);
    r.finish[1]!();
    assert.deepEqual(await Promise.all(rest), ['done b', 'done c', 'done d']);
  });

  test('a unit holds at most maxEvents events and maxBytes bytes; a bigger job is a unit alone', async () => {
    const r = recorder();
    const joiner = new JobJoiner(r.run, { maxEvents: 25, maxBytes: 30_000, inflight: 1 });
    const jobs = [
      jobOf('a', 10),
      jobOf('b', 10),
      jobOf('c', 10),
      jobOf('d', 40),
      jobOf('e', 5, 20_000),
      jobOf('f', 5, 20_000),
    ];
    const results = jobs.map((j) => joiner.submit(j));
    for (let i = 0; i < 5; i++) {
      await tick();
      r.finish[i]?.();
      await tick();
    }
    await Promise.all(results);
    assert.deepEqual(r.units, [['a', 'b'], ['c'], ['d'], ['e'], ['f']]);
  });

  test('a job that failed before, or of an older webhook (no bytes), runs alone', async () => {
    const r = recorder();
    const joiner = new JobJoiner(r.run, { maxEvents: 100, maxBytes: 1e6, inflight: 1 });
    const results = [
      joiner.submit(jobOf('a', 1)),
      joiner.submit(jobOf('b', 1)),
      joiner.submit(jobOf('retried', 1), true),
      joiner.submit(jobOf('c', 1)),
      joiner.submit(jobOf('old', 1, null)),
      joiner.submit(jobOf('d', 1)),
    ];
    for (let i = 0; i < 6; i++) {
      await tick();
      r.finish[i]?.();
      await tick();
    }
    await Promise.all(results);
    assert.deepEqual(r.units, [['a', 'b'], ['retried'], ['c'], ['old'], ['d']]);
    assert.deepEqual(r.alone, [false, true, false, false, false], 'only the retried job is run as one');
  });

  test('a failed unit fails every job in it, and the next unit still runs', async () => {
    const r = recorder();
    const joiner = new JobJoiner(r.run, { maxEvents: 100, maxBytes: 1e6, inflight: 1 });
    const a = joiner.submit(jobOf('a', 1));
    const b = joiner.submit(jobOf('b', 1));
    await tick();
    const c = joiner.submit(jobOf('c', 1));
    r.finish[0]!(new Error('Elasticsearch unreachable'));
    await assert.rejects(a, /unreachable/);
    await assert.rejects(b, /unreachable/);
    await tick();
    r.finish[1]!();
    assert.equal(await c, 'done c');
    assert.equal(joiner.pending, 0);
  });

  test('at most `inflight` units run at once', async () => {
    const r = recorder();
    const joiner = new JobJoiner(r.run, { maxEvents: 1, maxBytes: 1e6, inflight: 2 });
    const results = ['a', 'b', 'c', 'd'].map((n) => joiner.submit(jobOf(n, 1)));
    for (let i = 0; i < 4; i++) await tick();
    assert.deepEqual(r.units, [['a'], ['b']]);
    assert.equal(joiner.pending, 2);
    r.finish[0]!();
    r.finish[1]!();
    for (let i = 0; i < 4; i++) await tick();
    assert.deepEqual(r.units, [['a'], ['b'], ['c'], ['d']]);
    r.finish[2]!();
    r.finish[3]!();
    assert.equal((await Promise.all(results)).length, 4);
  });

  test('beside a running unit, the next starts only once full; not full, it waits for the running one to finish', async () => {
    const r = recorder();
    const joiner = new JobJoiner(r.run, { maxEvents: 20, maxBytes: 1e6, inflight: 2, fillWaitMs: 60_000 });
    const a = joiner.submit(jobOf('a', 10));
    await tick();
    assert.deepEqual(r.units, [['a']], 'nothing running: a unit starts at once with what is there');
    const b = joiner.submit(jobOf('b', 10));
    for (let i = 0; i < 3; i++) await tick();
    assert.deepEqual(r.units, [['a']], 'b alone is not full: it waits while a runs');
    const c = joiner.submit(jobOf('c', 10));
    for (let i = 0; i < 3; i++) await tick();
    assert.deepEqual(r.units, [['a'], ['b', 'c']], 'b + c fill a unit: it starts beside a');
    const d = joiner.submit(jobOf('d', 5));
    r.finish[0]!();
    assert.equal(await a, 'done a');
    for (let i = 0; i < 3; i++) await tick();
    assert.deepEqual(r.units, [['a'], ['b', 'c']], 'd waits for the unit still running');
    r.finish[1]!();
    assert.deepEqual(await Promise.all([b, c]), ['done b', 'done c']);
    for (let i = 0; i < 3; i++) await tick();
    assert.deepEqual(r.units, [['a'], ['b', 'c'], ['d']], 'nothing running: d starts');
    r.finish[2]!();
    assert.equal(await d, 'done d');
  });

  test('a unit that is not full starts beside a running one after fillWaitMs', async () => {
    const r = recorder();
    const joiner = new JobJoiner(r.run, { maxEvents: 100, maxBytes: 1e6, inflight: 2, fillWaitMs: 30 });
    const a = joiner.submit(jobOf('a', 1));
    await tick();
    const b = joiner.submit(jobOf('b', 1));
    for (let i = 0; i < 3; i++) await tick();
    assert.deepEqual(r.units, [['a']]);
    await sleep(80);
    assert.deepEqual(r.units, [['a'], ['b']], 'b waited its fillWaitMs, then ran beside the unit still running');
    r.finish[1]!();
    assert.equal(await b, 'done b');
    r.finish[0]!();
    assert.equal(await a, 'done a');
  });

  test('a job to run alone (retried) starts beside a running unit at once', async () => {
    const r = recorder();
    const joiner = new JobJoiner(r.run, { maxEvents: 100, maxBytes: 1e6, inflight: 2, fillWaitMs: 60_000 });
    const a = joiner.submit(jobOf('a', 1));
    await tick();
    const retried = joiner.submit(jobOf('retried', 1), true);
    for (let i = 0; i < 3; i++) await tick();
    assert.deepEqual(r.units, [['a'], ['retried']]);
    r.finish[0]!();
    r.finish[1]!();
    assert.deepEqual(await Promise.all([a, retried]), ['done a', 'done retried']);
  });
});
