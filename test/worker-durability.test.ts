// Issue 16, worker side: nothing acked is ever lost. A job survives its worker being killed (kill -9,
// twice), a job that finally fails is visible in `dlq list` and re-driven by `dlq replay`, a poison
// event is set aside alone, an object's history lost from Redis continues from Elasticsearch, and a
// redaction salt that differs from the recorded one refuses the start. Real Redis, real
// Elasticsearch, real worker processes where a kill is the point.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { Queue } from 'bullmq';
import { pino } from 'pino';
import type { AuditEvent } from '@crtrail/audit';
import { defaultConfig, loadEnv, type Env } from '@crtrail/config';
import { createBatchQueue, defaultJobOptions, JOB_NAME, type BatchJob } from '@crtrail/queue';
import { keys, watchRedactionSalt } from '@crtrail/state';
import { indexNames } from '@crtrail/store';
import {
  cleanupPrefix,
  eventually,
  startTcpProxy,
  testEs,
  testEsUrl,
  testRedis,
  testRedisUrl,
  uniquePrefix,
} from '@crtrail/testkit';
import { createEnricher, startWorker, type Enricher, type RunningWorker } from '@crtrail/worker';
import { runCli, spawnCli } from './helpers/cli.js';
import { generateWorkload } from '../bench/workload.js';
import type { LooseJson, StoredDoc } from './helpers/loose.js';

const es = testEs();
const redis = testRedis();
const prefixes: string[] = [];

function envFor(prefix: string, extra: Record<string, string> = {}): Env {
  return loadEnv({
    CRTRAIL_REDIS_URL: testRedisUrl(),
    CRTRAIL_ES_URL: testEsUrl(),
    CRTRAIL_INDEX_PREFIX: prefix,
    CRTRAIL_PORT: '0',
    CRTRAIL_WORKER_PORT: '0',
    CRTRAIL_LOG_LEVEL: process.env.CRTRAIL_LOG_LEVEL || 'warn',
    ...extra,
  });
}

function newPrefix(label: string): string {
  const p = uniquePrefix(label);
  prefixes.push(p);
  return p;
}

/** A write of Widget `name` at resourceVersion `rv` with `spec.size = size` (create at rv 1). */
function widgetWrite(auditID: string, name: string, rv: number, size: number): AuditEvent {
  const object = {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name, namespace: 'x', uid: `uid-${name}`, resourceVersion: String(rv) },
    spec: { size },
  };
  const ts = new Date(Date.UTC(2026, 10, 2, 10, 0, rv)).toISOString();
  return {
    level: 'RequestResponse',
    auditID,
    stage: 'ResponseComplete',
    requestURI: `/apis/example.com/v1/namespaces/x/widgets${rv === 1 ? '' : `/${name}`}`,
    verb: rv === 1 ? 'create' : 'update',
    user: { username: 'alice' },
    objectRef: { apiGroup: 'example.com', apiVersion: 'v1', resource: 'widgets', namespace: 'x', name },
    responseStatus: { code: rv === 1 ? 201 : 200 },
    requestReceivedTimestamp: ts,
    stageTimestamp: ts,
    requestObject: object,
    responseObject: object,
  } as unknown as AuditEvent;
}

async function records(prefix: string, cluster: string): Promise<Array<StoredDoc>> {
  const alias = indexNames(prefix).alias;
  await es.indices.refresh({ index: alias });
  const res = await es.search({
    index: alias,
    query: { term: { 'orchestrator.cluster.name': cluster } },
    size: 10_000,
    sort: [{ 'crtrail.integrity.seq': 'asc' }],
  });
  return res.hits.hits as Array<StoredDoc>;
}

/** A pino logger whose lines the test can read. */
function capturedLog() {
  const lines: Array<LooseJson> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

const cliEnv = (prefix: string) => ({
  CRTRAIL_INDEX_PREFIX: prefix,
  CRTRAIL_ES_URL: testEsUrl(),
  CRTRAIL_REDIS_URL: testRedisUrl(),
  CRTRAIL_LOG_LEVEL: 'warn',
});

before(async () => {
  await es.cluster.health({ wait_for_status: 'yellow', timeout: '30s' });
});

after(async () => {
  for (const p of prefixes) await cleanupPrefix(p, es, redis);
  await es.close();
  redis.disconnect();
});

describe('worker durability', () => {
  test('a worker killed (kill -9) twice during the same job: every record indexed exactly once', async (t) => {
    const prefix = newPrefix('kill');
    const cluster = 'kill';
    // One big job (16,000 events, ~800 custom-resource writes): larger than the webhook's jobs, it must
    // still work — and long enough that its retry, which skips the records already stored, is still
    // running when the second kill comes on an idle machine.
    const w = generateWorkload(40, 1616);
    const events = w.bodies.flatMap((b) => JSON.parse(b.body).items as AuditEvent[]);
    const env = {
      ...cliEnv(prefix),
      CRTRAIL_PORT: '0',
      CRTRAIL_WORKER_PORT: '0',
      CRTRAIL_WORKER_LOCK_MS: '5000',
      CRTRAIL_LOG_LEVEL: 'info',
      CRTRAIL_WORKER_NICE: '0',
    };
    const queue = createBatchQueue(prefix, redis) as Queue<BatchJob>;
    let worker = spawnCli(['up', '--worker-only'], env);
    const outputs: string[] = [];
    try {
      const job = await queue.add(JOB_NAME, { cluster, receivedAt: Date.now(), events });
      for (let kill = 1; kill <= 2; kill++) {
        const startedBefore = kill === 1 ? 0 : (await queue.getJob(job.id!))!.attemptsStarted;
        // Mid-job: it is active in this worker (a fresh start of it) and has written part of its records.
        const seen = kill === 1 ? 0 : (await records(prefix, cluster)).length;
        await eventually(
          async () => {
            const j = await queue.getJob(job.id!);
            if (!j || (await j.getState()) !== 'active' || j.attemptsStarted <= startedBefore) return undefined;
            const n = (await records(prefix, cluster)).length;
            return kill === 1 ? (n > 0 ? true : undefined) : true;
          },
          120_000,
          `the job active with records written (kill ${kill})`,
        );
        // Kill 2 comes as soon as the retry is active in the new worker: it is a stall of the same job.
        assert.notEqual(
          await (await queue.getJob(job.id!))!.getState(),
          'completed',
          `the job is still in progress at kill ${kill}`,
        );
        assert.ok((await records(prefix, cluster)).length < w.crWrites, 'killed before all its records were written');
        worker.child.kill('SIGKILL');
        await worker.exited;
        outputs.push(worker.output());
        assert.ok(seen <= (await records(prefix, cluster)).length);
        worker = spawnCli(['up', '--worker-only'], env);
      }
      const done = await eventually(
        async () => {
          const j = await queue.getJob(job.id!);
          const state = await j?.getState();
          if (state === 'failed') throw new Error(`the job failed: ${j!.failedReason}`);
          return state === 'completed' ? j : undefined;
        },
        300_000,
        'the job to complete after two kills',
      );
      // BullMQ's default (maxStalledCount 1) would have failed it at the second stall.
      assert.ok(done!.stalledCounter >= 2, `two stalls counted (${done!.stalledCounter})`);
      // A stall is not a failed attempt; on a loaded host an attempt may also fail for a reason of its own.
      if (done!.attemptsMade > 0)
        t.diagnostic(`failed attempts besides the stalls: ${JSON.stringify(done!.stacktrace)}`);
      const hits = await records(prefix, cluster);
      assert.equal(hits.length, w.crWrites, 'one record per custom-resource write');
      assert.equal(new Set(hits.map((h) => h._source.event.id)).size, w.crWrites, 'no write recorded twice');
      // Exactly once in the hash chain too: seqs 1..N, no gap, no duplicate.
      assert.deepEqual(
        hits.map((h) => h._source.crtrail.integrity.seq),
        Array.from({ length: w.crWrites }, (_, i) => i + 1),
      );
      assert.match(worker.output() + outputs.join(''), /batch stalled/);
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited;
      await queue.close();
    }
  });

  test('a batch failing its last attempt is listed by `dlq list` and indexed by `dlq replay`', async () => {
    const prefix = newPrefix('gaveup');
    const cluster = 'gaveup';
    const url = new URL(testEsUrl());
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 9200));
    const { log, lines } = capturedLog();
    let running: RunningWorker | undefined;
    const queue = createBatchQueue(prefix, redis) as Queue<BatchJob>;
    try {
      running = await startWorker({
        env: envFor(prefix, { CRTRAIL_ES_URL: proxy.url() }),
        log,
        serveMetrics: false,
        refresh: 'wait_for',
      });
      proxy.down();
      const events = [widgetWrite('g-1', 'g1', 1, 1), widgetWrite('g-2', 'g2', 1, 2)];
      // Two attempts instead of 150, so the test sees the end of the budget.
      const job = await queue.add(
        JOB_NAME,
        { cluster, receivedAt: Date.now(), events },
        { ...defaultJobOptions, attempts: 2 },
      );
      await eventually(
        async () =>
          (await job.isFailed()) || (await queue.getJob(job.id!).then((j) => j?.getState())) === 'failed'
            ? true
            : undefined,
        120_000,
        'the job to fail for good',
      );
      assert.ok(
        lines.some(
          (l) => l.level === 40 && /^batch failed; will retry in \d+(\.\d)? (ms|s) \(attempt 1 of 2\)$/.test(l.msg),
        ),
        'the first failure says when it is retried',
      );
      const final = lines.find(
        (l) =>
          l.level === 50 && l.msg === 'batch gave up after 2 attempts: moved to the dead letters (crtrail dlq list)',
      );
      assert.ok(final, `the final failure is logged at error level: ${JSON.stringify(lines.map((l) => l.msg))}`);
      await eventually(
        async () => ((await running!.metrics.failedBatches.get()).values[0]?.value === 1 ? true : undefined),
        30_000,
        'the failed-batches gauge',
      );
      proxy.up();

      const list = await runCli(['dlq', 'list'], cliEnv(prefix));
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stderr, /0 dead letter\(s\), 1 failed batch\(es\)/);
      const line = list.stdout
        .trim()
        .split('\n')
        .find((l) => l.startsWith(`batch:${job.id}\t`));
      assert.ok(line, list.stdout);
      const [, firstFailed, lineCluster, counts, reason] = line!.split('\t');
      assert.ok(!Number.isNaN(Date.parse(firstFailed!)));
      assert.equal(lineCluster, cluster);
      assert.equal(counts, '2 events, 2 attempts');
      assert.ok(reason!.length > 0);
      const json = (await runCli(['dlq', 'list', '--json'], cliEnv(prefix))).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        json.map((j) => [j.type, j.id, j.events, j.attempts]),
        [['batch', `batch:${job.id}`, 2, 2]],
      );

      assert.equal((await runCli(['dlq', 'replay', '--id', 'batch:no-such-job'], cliEnv(prefix))).code, 1);
      const replay = await runCli(['dlq', 'replay', '--id', `batch:${job.id}`], cliEnv(prefix));
      assert.equal(replay.code, 0, replay.stderr);
      assert.match(replay.stdout, /failed batches re-enqueued 1/);
      await eventually(
        async () => ((await records(prefix, cluster)).length === 2 ? true : undefined),
        60_000,
        'the replayed batch indexed',
      );
      assert.equal(await queue.getFailedCount(), 0);
      const empty = await runCli(['dlq', 'list'], cliEnv(prefix));
      assert.match(empty.stderr, /0 dead letter\(s\), 0 failed batch\(es\)/);
    } finally {
      await running?.close();
      await queue.close();
      await proxy.close();
    }
  });

  test('a poison event is dead-lettered alone with its reason, the rest of its batch indexed; `dlq replay` re-drives it', async () => {
    const prefix = newPrefix('poison');
    const cluster = 'poison';
    const config = defaultConfig();
    const real = createEnricher(config);
    let broken = true;
    // A bug in enrichment that only this event's body triggers (the documented `enricher` dependency).
    const enricher = Object.assign(
      (r: Parameters<Enricher>[0]) => {
        if (broken && r.event.auditID === 'p-3')
          throw new Error('enrichment bug: cannot read spec.size of a size-3 widget');
        return real(r);
      },
      { actorOf: real.actorOf, repair: real.repair },
    ) as Enricher;
    const running = await startWorker({
      env: envFor(prefix),
      config,
      enricher,
      serveMetrics: false,
      refresh: 'wait_for',
    });
    const queue = createBatchQueue(prefix, redis) as Queue<BatchJob>;
    try {
      const events = [1, 2, 3, 4, 5].map((i) => widgetWrite(`p-${i}`, `p${i}`, 1, i));
      const job = await queue.add(JOB_NAME, { cluster, receivedAt: Date.now(), events });
      await eventually(async () => ((await job.isCompleted()) ? true : undefined), 60_000, 'the batch to complete');
      const hits = await records(prefix, cluster);
      assert.deepEqual(hits.map((h) => h._source.event.id).sort(), ['p-1', 'p-2', 'p-4', 'p-5']);

      const list = await runCli(['dlq', 'list', '--json'], cliEnv(prefix));
      assert.equal(list.code, 0, list.stderr);
      const entries = list.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(entries.length, 1);
      assert.equal(entries[0].type, 'event');
      assert.equal(entries[0].cluster, cluster);
      assert.equal(entries[0].event.auditID, 'p-3');
      assert.match(entries[0].reason, /enrichment bug: cannot read spec\.size/);
      assert.ok(!Number.isNaN(Date.parse(entries[0].at)));
      assert.equal((await running.metrics.dlq.get()).values.find((v) => v.labels.type === 'event')?.value, 1);

      broken = false; // the fix is deployed
      const replay = await runCli(['dlq', 'replay', '--id', entries[0].id], cliEnv(prefix));
      assert.equal(replay.code, 0, replay.stderr);
      assert.match(replay.stdout, /events re-enqueued 1/);
      await eventually(
        async () => ((await records(prefix, cluster)).length === 5 ? true : undefined),
        60_000,
        'the re-driven event indexed',
      );
      assert.equal((await runCli(['dlq', 'list', '--json'], cliEnv(prefix))).stdout.trim(), '');
    } finally {
      await running.close();
      await queue.close();
    }
  });

  test("an object's history lost from Redis: its next write is diffed against its newest state in Elasticsearch", async () => {
    const prefix = newPrefix('esstate');
    const cluster = 'esstate';
    const running = await startWorker({ env: envFor(prefix), serveMetrics: false, refresh: 'wait_for' });
    const queue = createBatchQueue(prefix, redis) as Queue<BatchJob>;
    const send = async (events: AuditEvent[]) => {
      const job = await queue.add(JOB_NAME, { cluster, receivedAt: Date.now(), events });
      await eventually(async () => ((await job.isCompleted()) ? true : undefined), 60_000, 'the batch to complete');
    };
    try {
      await send([widgetWrite('s-1', 'w', 1, 1), widgetWrite('s-2', 'w', 2, 2), widgetWrite('s-3', 'w', 3, 3)]);
      // Redis loses the object's history (only this test's keys).
      const histories = await redis.keys(`${prefix}:state:*`);
      assert.equal(histories.length, 1);
      await redis.del(...histories);
      await send([widgetWrite('s-4', 'w', 4, 4)]);
      const hits = await records(prefix, cluster);
      const latest = hits.find((h) => h._source.event.id === 's-4')!;
      assert.equal(latest._source.crtrail.change.baseline, 'known');
      assert.deepEqual(latest._source.crtrail.change.ops, [{ op: 'replace', path: '/spec/size', old: 3, new: 4 }]);
      // …and the state it continued from is in Redis again for the write after.
      assert.equal((await redis.keys(`${prefix}:state:*`)).length, 1);
      await send([widgetWrite('s-5', 'w', 5, 5)]);
      const next = (await records(prefix, cluster)).find((h) => h._source.event.id === 's-5')!;
      assert.deepEqual(next._source.crtrail.change.ops, [{ op: 'replace', path: '/spec/size', old: 4, new: 5 }]);
    } finally {
      await running.close();
      await queue.close();
    }
  });

  test('a history expired by CRTRAIL_STATE_TTL_DAYS: the next write gives the same record as with the history kept', async () => {
    const cluster = 'ttl';
    const kept = newPrefix('ttlkept');
    const expiring = newPrefix('ttlexp');
    const run = async (prefix: string, extra: Record<string, string>, beforeLast: () => Promise<void>) => {
      const running = await startWorker({ env: envFor(prefix, extra), serveMetrics: false, refresh: 'wait_for' });
      const queue = createBatchQueue(prefix, redis) as Queue<BatchJob>;
      const send = async (events: AuditEvent[]) => {
        const job = await queue.add(JOB_NAME, { cluster, receivedAt: Date.now(), events });
        await eventually(async () => ((await job.isCompleted()) ? true : undefined), 60_000, 'the batch to complete');
      };
      try {
        await send([widgetWrite('t-1', 'w', 1, 1), widgetWrite('t-2', 'w', 2, 2), widgetWrite('t-3', 'w', 3, 3)]);
        await beforeLast();
        await send([widgetWrite('t-4', 'w', 4, 4)]);
      } finally {
        await running.close();
        await queue.close();
      }
      const hit = (await records(prefix, cluster)).find((h) => h._source.event.id === 't-4');
      assert.ok(hit, `the last write of ${prefix} is stored`);
      return hit._source.crtrail;
    };
    const withHistory = await run(kept, {}, async () => {
      const [key] = await redis.keys(`${kept}:state:*`);
      assert.ok(key);
      assert.equal(await redis.ttl(key), -1, 'without CRTRAIL_STATE_TTL_DAYS a history never expires');
    });
    const afterExpiry = await run(expiring, { CRTRAIL_STATE_TTL_DAYS: '1' }, async () => {
      const [key] = await redis.keys(`${expiring}:state:*`);
      assert.ok(key);
      const ttl = await redis.ttl(key);
      assert.ok(ttl > 86_000 && ttl <= 86_400, `the history expires in a day (ttl ${ttl} s)`);
      // Redis's own expiry, with the day shortened to a millisecond.
      await redis.pexpire(key, 1);
      await eventually(
        async () => ((await redis.exists(key)) === 0 ? true : undefined),
        5_000,
        'the history to expire',
      );
    });
    assert.deepEqual(afterExpiry.change.ops, [{ op: 'replace', path: '/spec/size', old: 3, new: 4 }]);
    for (const field of ['kind', 'ops', 'baseline', 'paths', 'gap'] as const) {
      assert.deepEqual(afterExpiry.change[field], withHistory.change[field], `change.${field}`);
    }
    assert.deepEqual(afterExpiry.actor, withHistory.actor);
  });

  test('a redaction salt that differs from the recorded one, or a salt Redis lost, refuses the start', async () => {
    const prefix = newPrefix('salt');
    const first = await startWorker({
      env: envFor(prefix, { CRTRAIL_REDACTION_SALT: 'the-original-salt-0123456789' }),
      serveMetrics: false,
    });
    await first.close();
    const meta = await es.search({ index: indexNames(prefix).meta });
    assert.equal(meta.hits.hits.length, 1);
    assert.ok(!JSON.stringify(meta.hits.hits).includes('the-original-salt'), 'the salt itself is never stored');
    await assert.rejects(
      startWorker({ env: envFor(prefix, { CRTRAIL_REDACTION_SALT: 'another-salt-9876543210' }), serveMetrics: false }),
      /the redaction salt \(CRTRAIL_REDACTION_SALT\) differs from the one existing records were hashed with .*set CRTRAIL_REDACTION_SALT to the original salt/,
    );
    // The original salt starts again.
    await (
      await startWorker({
        env: envFor(prefix, { CRTRAIL_REDACTION_SALT: 'the-original-salt-0123456789' }),
        serveMetrics: false,
      })
    ).close();

    // A generated salt (kept in Redis) that Redis then loses: refused, and no new one generated.
    const gen = newPrefix('saltgen');
    await (await startWorker({ env: envFor(gen), serveMetrics: false })).close();
    assert.ok(await redis.get(keys(gen).salt));
    await redis.del(keys(gen).salt);
    const cli = await runCli(['up', '--worker-only'], {
      ...cliEnv(gen),
      CRTRAIL_PORT: '0',
      CRTRAIL_WORKER_PORT: '0',
      CRTRAIL_WORKER_NICE: '0',
    });
    assert.notEqual(cli.code, 0);
    assert.match(
      cli.stdout + cli.stderr,
      /the redaction salt is missing from Redis .* Redis lost it\? set CRTRAIL_REDACTION_SALT to the original salt/,
    );
    assert.equal(await redis.get(keys(gen).salt), null, 'no new salt generated');
    // A salt generated anew (as a webhook would, with SET NX) is refused too.
    await redis.set(keys(gen).salt, 'b'.repeat(64));
    await assert.rejects(
      startWorker({ env: envFor(gen), serveMetrics: false }),
      /differs from the one existing records were hashed with/,
    );

    // While running, a worker puts its checked salt back should Redis lose it, and reports a different one.
    const watched = newPrefix('saltwatch');
    const { log, lines } = capturedLog();
    const timer = watchRedactionSalt(redis, watched, 'the-checked-salt-0123456789', log, 50);
    try {
      await eventually(
        async () => ((await redis.get(keys(watched).salt)) === 'the-checked-salt-0123456789' ? true : undefined),
        10_000,
        'the salt restored',
      );
      await redis.set(keys(watched).salt, 'c'.repeat(64));
      await eventually(
        async () =>
          lines.some((l) => l.level === 50 && /differs from the checked one/.test(l.msg)) ? true : undefined,
        10_000,
        'the mismatch reported',
      );
      assert.equal(await redis.get(keys(watched).salt), 'c'.repeat(64), 'a salt found in Redis is never overwritten');
    } finally {
      clearInterval(timer);
    }
  });
});
