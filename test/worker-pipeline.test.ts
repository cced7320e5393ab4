import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@elastic/elasticsearch';
import type { AuditEvent } from '@crtrail/audit';
import { loadConfig } from '@crtrail/config';
import { batchObjects } from '@crtrail/diff';
import { classifyEvent } from '@crtrail/filter';
import type { BatchJob } from '@crtrail/queue';
import { keysFor, SharedLocks } from '@crtrail/state';
import { indexNames, installTemplates, RecordLocator } from '@crtrail/store';
import {
  cleanupPrefix,
  startTcpProxy,
  testEs,
  testEsUrl,
  testRedis,
  testRedisUrl,
  uniquePrefix,
  type TcpProxy,
} from '@crtrail/testkit';
import {
  createEnricher,
  processBatch,
  processJobs,
  UnitPipeline,
  type BatchDeps,
  type Enricher,
} from '@crtrail/worker';
import { demoStory } from '../services/cli/src/demo-story.js';
import { batchDeps } from './helpers/batch-deps.js';
import { runCli } from './helpers/cli.js';

/**
 * A worker's units pipelined on the objects they share: a unit takes the objects over from the one
 * before it and plans on its histories while that one still waits for Elasticsearch and Redis. It
 * must give exactly the records, chain and histories of one unit at a time, and when a unit fails
 * (or its worker dies) between its steps, the unit after it must fail with it and the retried jobs
 * must still give those records.
 */

/** The state of one object's lock in Redis, in another process's eyes. */
const lockHolder = (redis: ReturnType<typeof testRedis>, key: string): Promise<string | null> => redis.get(key);

describe('per-process shared object locks (real Redis)', () => {
  const redis = testRedis();
  const prefix = uniquePrefix('shared-locks');
  const k = keysFor(redis, prefix);
  after(async () => {
    await cleanupPrefix(prefix, testEs(), redis);
    redis.disconnect();
  });

  test('a unit takes over keys another unit of its process holds; another process waits for both', async () => {
    const locks = new SharedLocks<string>(redis);
    const other = new SharedLocks<string>(redis);
    const x = k.lock('x');
    const y = k.lock('y');
    const order: string[] = [];
    let releaseA!: () => void;
    const gateA = new Promise<void>((r) => (releaseA = r));
    const a = locks.hold(
      [x],
      'A',
      (earlier) => earlier,
      async (earlier) => {
        order.push(`A holds, after ${[...earlier.values()].join(',') || 'none'}`);
        await gateA;
      },
    );
    await sleep(50);
    // B needs x (held by A here) and y (free): it is let in while A still holds x, after A on x.
    let releaseB!: () => void;
    const gateB = new Promise<void>((r) => (releaseB = r));
    const b = locks.hold(
      [x, y],
      'B',
      (earlier) => earlier,
      async (earlier) => {
        order.push(`B holds, after ${[...earlier].map(([key, s]) => `${s} on ${key === x ? 'x' : 'y'}`).join(',')}`);
        await gateB;
      },
    );
    await sleep(50);
    assert.deepEqual(order, ['A holds, after none', 'B holds, after A on x']);
    // Another process (its own token) waits for x until neither A nor B holds it.
    const c = other.hold(
      [x],
      'C',
      () => undefined,
      async () => {
        order.push('C holds');
      },
    );
    releaseA();
    await a;
    await sleep(100);
    assert.equal(order.length, 2, 'C waits while B still holds x, although A let go of it');
    assert.notEqual(await lockHolder(redis, x), null);
    releaseB();
    await Promise.all([b, c]);
    assert.deepEqual(order.at(-1), 'C holds');
    assert.equal(locks.size, 0);
    assert.equal(await lockHolder(redis, x), null, 'every key released in Redis');
    assert.equal(await lockHolder(redis, y), null);
  });

  test('an exclusive unit neither takes keys over nor lets them be taken over', async () => {
    const locks = new SharedLocks<string>(redis);
    const x = k.lock('ex');
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = locks.hold(
      [x],
      'A',
      () => undefined,
      async () => {
        order.push('A');
        await gate;
      },
    );
    await sleep(30);
    const e = locks.hold(
      [x],
      'E',
      (earlier) => earlier.size,
      async (took) => {
        order.push(`E after ${took}`);
        await sleep(50);
      },
      true,
    );
    await sleep(50);
    assert.deepEqual(order, ['A'], 'the exclusive unit waits for A');
    release();
    await a;
    const b = locks.hold(
      [x],
      'B',
      (earlier) => earlier.size,
      async (took) => {
        order.push(`B after ${took}`);
      },
    );
    await Promise.all([e, b]);
    assert.deepEqual(order, ['A', 'E after 0', 'B after 0'], 'nobody followed the exclusive unit, nor did it follow');
  });

  test('two processes each holding one key and wanting both: no deadlock', async () => {
    const p1 = new SharedLocks<string>(redis);
    const p2 = new SharedLocks<string>(redis);
    const x = k.lock('dx');
    const y = k.lock('dy');
    const done: string[] = [];
    const holdFor = (locks: SharedLocks<string>, keys: string[], name: string, ms: number) =>
      locks.hold(
        keys,
        name,
        () => undefined,
        async () => {
          await sleep(ms);
          done.push(name);
        },
      );
    const first = [holdFor(p1, [x], 'p1-x', 200), holdFor(p2, [y], 'p2-y', 200)];
    await sleep(30);
    // Each would take over its own process's key and needs the other process's: neither may keep
    // its key held while it waits for the other.
    const second = [holdFor(p1, [x, y], 'p1-xy', 20), holdFor(p2, [x, y], 'p2-xy', 20)];
    await Promise.all([...first, ...second]);
    assert.deepEqual(done.slice(0, 2).sort(), ['p1-x', 'p2-y']);
    assert.deepEqual(done.slice(2).sort(), ['p1-xy', 'p2-xy']);
  });
});

describe('units pipelined on shared objects give the records of one unit at a time', () => {
  const es = testEs();
  const redis = testRedis();
  const config = loadConfig(undefined);
  const used: string[] = [];
  const clients: Client[] = [];
  let proxy: TcpProxy | undefined;
  const fresh = async (label: string): Promise<string> => {
    const prefix = uniquePrefix(label);
    used.push(prefix);
    await installTemplates(es, prefix);
    return prefix;
  };
  after(async () => {
    for (const p of used) await cleanupPrefix(p, es, redis);
    for (const c of clients) await c.close();
    await proxy?.close();
    await es.close();
    redis.disconnect();
  });

  const depsFor = (prefix: string, extra: Partial<BatchDeps> = {}): BatchDeps =>
    batchDeps(es, redis, prefix, { config, ...extra });

  // The demo story (creates, SSA, patches, a status update, deletes, a failed write…) for two
  // clusters in jobs of 2 events, interleaved: consecutive jobs of a cluster share objects.
  const story = demoStory(1_700_000_000_000).filter((e) => classifyEvent(e).keep) as AuditEvent[];
  const jobs: BatchJob[] = [];
  for (let i = 0; i < story.length; i += 2)
    for (const cluster of ['pipe-a', 'pipe-b'])
      jobs.push({ cluster, receivedAt: 1_700_000_000_000 + i, events: story.slice(i, i + 2) });
  const objectIds = (js: readonly BatchJob[]): Array<{ cluster: string; id: string }> => {
    const seen = new Map<string, { cluster: string; id: string }>();
    for (const j of js)
      for (const o of batchObjects(j.cluster, j.events)) seen.set(o.id, { cluster: j.cluster, id: o.id });
    return [...seen.values()];
  };

  interface Stored {
    crtrail: { integrity: { seq: number }; change: Record<string, unknown>; actor: unknown };
    orchestrator?: { cluster?: { name?: string } };
  }
  /** Every record by id (its change, actor, cluster), and each cluster's seqs in order. */
  async function recordsOf(prefix: string) {
    await es.indices.refresh({ index: indexNames(prefix).alias });
    const res = await es.search<Stored>({ index: indexNames(prefix).alias, size: 1000 });
    const seqs = new Map<string, number[]>();
    const hits = res.hits.hits.sort((a, b) => (a._id! < b._id! ? -1 : 1));
    const records = hits.map((h) => {
      const cluster = h._source!.orchestrator?.cluster?.name ?? '';
      const c = h._source!.crtrail;
      seqs.set(cluster, [...(seqs.get(cluster) ?? []), c.integrity.seq]);
      return { id: h._id, cluster, change: { ...c.change, text: undefined }, actor: c.actor };
    });
    for (const list of seqs.values()) list.sort((a, b) => a - b);
    return { records, seqs };
  }
  /** Every object's history hash in Redis (all fields but `rev`, which counts saves). */
  async function historiesOf(prefix: string, js: readonly BatchJob[]) {
    const k = keysFor(redis, prefix);
    const out: Record<string, Record<string, string>> = {};
    for (const { id } of objectIds(js)) {
      const { rev: _rev, ...fields } = await redis.hgetall(k.state(id));
      out[id] = fields;
    }
    return out;
  }
  const assertGapless = (seqs: Map<string, number[]>): void => {
    for (const [cluster, list] of seqs)
      assert.deepEqual(
        list,
        list.map((_, i) => i + 1),
        `cluster ${cluster}: seqs 1..n, none twice, none skipped`,
      );
  };
  const assertVerifies = async (prefix: string, clusters: string[]): Promise<void> => {
    for (const cluster of clusters) {
      const run = await runCli(['verify', '--cluster', cluster], {
        CRTRAIL_INDEX_PREFIX: prefix,
        CRTRAIL_ES_URL: testEsUrl(),
        CRTRAIL_REDIS_URL: testRedisUrl(),
      });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, new RegExp(`INTACT cluster ${cluster}`));
    }
  };
  /** Two jobs of one cluster that write a same object, the first before the second in the story. */
  const overlappingPair = (): [BatchJob, BatchJob] => {
    for (let i = 0; i < jobs.length; i++)
      for (let j = i + 1; j < jobs.length; j++) {
        const [a, b] = [jobs[i]!, jobs[j]!];
        if (a.cluster !== b.cluster) continue;
        const ids = new Set(batchObjects(a.cluster, a.events).map((o) => o.id));
        if (batchObjects(b.cluster, b.events).some((o) => ids.has(o.id))) return [a, b];
      }
    throw new Error('the demo story has no two jobs writing a same object');
  };
  /** The records (and histories) of `first` then `second`, one unit at a time, on a fresh prefix. */
  const oneAtATime = async (label: string, first: BatchJob, second: BatchJob): Promise<string> => {
    const prefix = await fresh(label);
    await processBatch(structuredClone(first), depsFor(prefix));
    await processBatch(structuredClone(second), depsFor(prefix));
    return prefix;
  };
  let serial: { prefix: string; records: Awaited<ReturnType<typeof recordsOf>> };
  before(async () => {
    const prefix = await fresh('pipe-serial');
    for (const job of jobs) await processBatch(structuredClone(job), depsFor(prefix));
    serial = { prefix, records: await recordsOf(prefix) };
    assert.ok(serial.records.records.length >= story.length, 'records were made');
  });

  test('every job started at once: units take objects over, same records, histories and chain', async () => {
    const prefix = await fresh('pipe-all');
    const pipeline = new UnitPipeline(redis);
    const deps = depsFor(prefix, { pipeline });
    const results = await Promise.all(jobs.map((job) => processJobs([structuredClone(job)], deps)));
    assert.ok(pipeline.takenOver > 0, 'units took objects over from the unit before them');
    const serialCounts: unknown[] = [];
    const again = await fresh('pipe-serial-counts');
    for (const job of jobs) serialCounts.push(await processBatch(structuredClone(job), depsFor(again)));
    assert.deepEqual(
      results.map((r) => r[0]),
      serialCounts,
      'each job gets the counts it gets one at a time',
    );
    const piped = await recordsOf(prefix);
    assert.deepEqual(piped.records, serial.records.records);
    assertGapless(piped.seqs);
    assert.deepEqual(await historiesOf(prefix, jobs), await historiesOf(serial.prefix, jobs));
    await assertVerifies(prefix, ['pipe-a', 'pipe-b']);
  });

  test('a unit that dies after its bulk: the unit that took over fails too; retried out of order, the same records', async () => {
    const [first, second] = overlappingPair();
    const expected = await oneAtATime('pipe-crash-serial', first, second);

    const prefix = await fresh('pipe-crash');
    const pipeline = new UnitPipeline(redis);
    // The first unit stores its records, then "dies" where its alerts would be enqueued, before its save.
    const dying = depsFor(prefix, {
      pipeline,
      alerts: { enqueue: () => Promise.reject(new Error('worker killed here')) },
    });
    const [a, b] = await Promise.allSettled([
      processJobs([structuredClone(first)], dying),
      processJobs([structuredClone(second)], depsFor(prefix, { pipeline })),
    ]);
    assert.equal(pipeline.takenOver > 0, true, 'the second unit took the shared object over');
    assert.equal(a.status, 'rejected');
    assert.match(String((a as PromiseRejectedResult).reason), /worker killed here/);
    assert.equal(b.status, 'rejected', 'it planned on histories that will not be saved');
    assert.match(String((b as PromiseRejectedResult).reason), /an earlier unit on the same objects failed/);
    const k = keysFor(redis, prefix);
    for (const { id } of objectIds([first, second]))
      assert.equal(await redis.exists(k.state(id)), 0, `no history of ${id} saved: the first unit never saved`);

    // BullMQ retries both, here the later job first (another worker may take it first).
    await processBatch(structuredClone(second), depsFor(prefix));
    await processBatch(structuredClone(first), depsFor(prefix));
    const got = await recordsOf(prefix);
    const want = await recordsOf(expected);
    assert.deepEqual(got.records, want.records);
    assertGapless(got.seqs);
    await assertVerifies(prefix, [first.cluster]);
  });

  test('a unit whose worker dies after its save: the unit after it, retried, gives the same records', async () => {
    const [first, second] = overlappingPair();
    const expected = await oneAtATime('pipe-crash2-serial', first, second);

    const prefix = await fresh('pipe-crash2');
    const pipeline = new UnitPipeline(redis);
    const [a, b] = await Promise.allSettled([
      processJobs([structuredClone(first)], depsFor(prefix, { pipeline })),
      processJobs(
        [structuredClone(second)],
        depsFor(prefix, { pipeline, alerts: { enqueue: () => Promise.reject(new Error('worker killed here')) } }),
      ),
    ]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(b.status, 'rejected');
    await processBatch(structuredClone(second), depsFor(prefix));
    const got = await recordsOf(prefix);
    assert.deepEqual(got.records, (await recordsOf(expected)).records);
    assertGapless(got.seqs);
    assert.deepEqual(await historiesOf(prefix, [first, second]), await historiesOf(expected, [first, second]));
    await assertVerifies(prefix, [first.cluster]);
  });

  test('Elasticsearch cut during a unit: the unit after it writes nothing; retried, the same records', async () => {
    const [first, second] = overlappingPair();
    const expected = await oneAtATime('pipe-cut-serial', first, second);

    const prefix = await fresh('pipe-cut');
    const url = new URL(testEsUrl());
    proxy = await startTcpProxy(url.hostname, Number(url.port || 9200));
    const cut = new Client({ node: proxy.url(), maxRetries: 1, requestTimeout: 5_000 });
    clients.push(cut);
    const real = createEnricher(config);
    const p = proxy;
    // The connection drops while the first unit builds its records, after it planned.
    const cutting: Enricher = Object.assign((r: Parameters<Enricher>[0]) => {
      p.down();
      return real(r);
    }, real);
    const pipeline = new UnitPipeline(redis);
    const [a, b] = await Promise.allSettled([
      processJobs(
        [structuredClone(first)],
        depsFor(prefix, {
          pipeline,
          es: cut,
          locator: new RecordLocator(cut, indexNames(prefix).alias),
          enrich: cutting,
        }),
      ),
      processJobs([structuredClone(second)], depsFor(prefix, { pipeline })),
    ]);
    assert.ok(pipeline.takenOver > 0, 'the second unit took the shared object over');
    assert.equal(a.status, 'rejected');
    assert.equal(b.status, 'rejected');
    assert.match(String((b as PromiseRejectedResult).reason), /an earlier unit on the same objects failed/);
    assert.equal((await recordsOf(prefix)).records.length, 0, 'neither unit stored a record');

    await processBatch(structuredClone(first), depsFor(prefix));
    await processBatch(structuredClone(second), depsFor(prefix));
    const got = await recordsOf(prefix);
    assert.deepEqual(got.records, (await recordsOf(expected)).records);
    assertGapless(got.seqs);
    assert.deepEqual(await historiesOf(prefix, [first, second]), await historiesOf(expected, [first, second]));
  });
});
