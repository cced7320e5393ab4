import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, publicFixtureFiles, startTcpProxy, testEsUrl, uniquePrefix } from '@crtrail/testkit';
import { indexNames, rollover } from '@crtrail/store';
import { loadEnv } from '@crtrail/config';
import { startWebhook } from '@crtrail/webhook';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { runCli, spawnCli } from './helpers/cli.js';
import { LIFECYCLE_RECORDS, eventList, postLifecycle } from './helpers/events.js';

const files = publicFixtureFiles();

describe('store: exactly once', () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline(uniquePrefix('exactly-once'));
  });
  after(async () => p?.close());

  test('the same real fixture files replayed 3 times → the same documents', async () => {
    const cluster = 'replay3';
    const snapshots: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await runCli(['replay', ...files, '--cluster', cluster, '--url', p.url]);
      assert.equal(run.code, 0, run.stderr);
      await p.idle();
      const docs = await p.search({ term: { 'orchestrator.cluster.name': cluster } });
      snapshots.push(JSON.stringify(docs.map((d) => [d._id, d._source])));
    }
    assert.ok(JSON.parse(snapshots[0]!).length > 0);
    assert.equal(snapshots[1], snapshots[0]);
    assert.equal(snapshots[2], snapshots[0]);
  });

  test('a rollover between a write and its replay still leaves one document', async () => {
    const cluster = 'rollover';
    await postLifecycle(p.url, cluster);
    await p.idle();
    const byCluster = { term: { 'orchestrator.cluster.name': cluster } };
    assert.equal(await p.count(byCluster), LIFECYCLE_RECORDS);
    const newIndex = await rollover(p.es, p.prefix);
    assert.match(newIndex, /-changes-000002$/);
    await postLifecycle(p.url, cluster);
    await p.idle();
    assert.equal(await p.count(byCluster), LIFECYCLE_RECORDS);
    const docs = await p.search(byCluster);
    assert.equal(new Set(docs.map((d) => d._id)).size, LIFECYCLE_RECORDS);
    // New writes after the rollover land in the new write index.
    await postLifecycle(p.url, 'after-rollover');
    await p.idle();
    const fresh = await p.search({ term: { 'orchestrator.cluster.name': 'after-rollover' } });
    assert.equal(fresh.length, LIFECYCLE_RECORDS);
    assert.ok(fresh.every((d) => d._index === newIndex));
  });

  test('a record Elasticsearch refuses goes to the dead-letter queue, and `dlq replay` indexes it after the fix', async () => {
    const cluster = 'dlq';
    // A value the webhook cannot know Elasticsearch will refuse (it types every field the shipped
    // mapping types, so a bad timestamp is a 400 at the door): an operator's mapping made stricter than
    // the events — `impersonatedUser.uid`, stored unmapped, mapped as a number here.
    const strictUid = { type: 'long' } as const;
    await p.es.indices.putMapping({
      index: indexNames(p.prefix).pattern,
      properties: {
        kubernetes: { properties: { audit: { properties: { impersonatedUser: { properties: { uid: strictUid } } } } } },
      },
    });
    const bad = {
      level: 'RequestResponse',
      auditID: 'bad-date-1',
      stage: 'ResponseComplete',
      requestURI: '/apis/example.com/v1/namespaces/x/widgets',
      verb: 'create',
      user: { username: 'alice' },
      objectRef: { apiGroup: 'example.com', apiVersion: 'v1', resource: 'widgets', namespace: 'x', name: 'w' },
      responseStatus: { code: 201 },
      impersonatedUser: { username: 'bob', uid: 'not-a-number' },
      requestReceivedTimestamp: '2026-11-02T10:00:00.000000Z',
      stageTimestamp: '2026-11-02T10:00:00.000000Z',
      responseObject: {
        apiVersion: 'example.com/v1',
        kind: 'Widget',
        metadata: { name: 'w', namespace: 'x', uid: 'u-1', resourceVersion: '5' },
        spec: { size: 1 },
      },
    };
    const res = await fetch(`${p.url}/audit/${cluster}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: eventList([bad]),
    });
    assert.equal(res.status, 200);
    await p.idle();
    assert.equal(await p.count({ term: { 'orchestrator.cluster.name': cluster } }), 0);
    const env = { CRTRAIL_INDEX_PREFIX: p.prefix, CRTRAIL_ES_URL: testEsUrl() };
    const list = await runCli(['dlq', 'list', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    const letters = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(letters.length, 1);
    assert.equal(letters[0].status, 400);
    assert.match(letters[0].reason, /failed to parse field \[kubernetes\.audit\.impersonatedUser\.uid\]/);
    assert.equal(letters[0].action.doc.kubernetes.audit.auditID, 'bad-date-1');
    // Before the fix a replay keeps it (exit 1); the fix: let the field accept malformed values.
    assert.equal((await runCli(['dlq', 'replay'], env)).code, 1);
    await p.es.indices.putMapping({
      index: indexNames(p.prefix).pattern,
      properties: {
        kubernetes: {
          properties: {
            audit: {
              properties: { impersonatedUser: { properties: { uid: { ...strictUid, ignore_malformed: true } } } },
            },
          },
        },
      },
    });
    const replayed = await runCli(['dlq', 'replay'], env);
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.match(replayed.stdout, /indexed 1/);
    assert.equal(await p.count({ term: { 'orchestrator.cluster.name': cluster } }), 1);
    const empty = await runCli(['dlq', 'list', '--json'], env);
    assert.equal(empty.stdout.trim(), '');
  });
});

describe('store: failures of the parts', () => {
  test('Elasticsearch unreachable for 60 s while batches keep arriving → all indexed after it returns', async () => {
    const url = new URL(testEsUrl());
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 9200));
    const p = await startPipeline(uniquePrefix('es-down'), { env: { CRTRAIL_ES_URL: proxy.url() } });
    try {
      proxy.down();
      const clusters = Array.from({ length: 12 }, (_, i) => `down-${i}`);
      const deadline = Date.now() + 60_000;
      let i = 0;
      while (Date.now() < deadline) {
        if (i < clusters.length) await postLifecycle(p.url, clusters[i++]!);
        await sleep(5_000);
      }
      assert.equal(i, clusters.length, 'all batches were acked while Elasticsearch was away');
      proxy.up();
      await p.idle(180_000);
      for (const c of clusters)
        assert.equal(await p.count({ term: { 'orchestrator.cluster.name': c } }), LIFECYCLE_RECORDS, c);
    } finally {
      proxy.up();
      await p.close();
      await proxy.close();
    }
  });

  test('a worker killed with SIGKILL in the middle of its work, then restarted → no loss, no duplicate', async () => {
    const prefix = uniquePrefix('sigkill');
    const env = loadEnv({
      CRTRAIL_INDEX_PREFIX: prefix,
      CRTRAIL_PORT: '0',
      CRTRAIL_REDIS_URL: process.env.CRTRAIL_REDIS_URL || 'redis://127.0.0.1:6379',
    });
    const hook = await startWebhook(env, false);
    const p = await startPipeline(prefix, { workers: 0 });
    const clusters = Array.from({ length: 150 }, (_, i) => `kill-${i}`);
    try {
      for (const c of clusters) await postLifecycle(hook.url, c);
      const workerEnv = {
        CRTRAIL_INDEX_PREFIX: prefix,
        CRTRAIL_WORKER_PORT: '0',
        CRTRAIL_WORKER_CONCURRENCY: '2',
        CRTRAIL_LOG_LEVEL: 'warn',
      };
      const first = spawnCli(['up', '--worker-only'], workerEnv);
      await eventually(
        async () => ((await p.count().catch(() => 0)) > 100 ? true : undefined),
        120_000,
        'the first worker to index some records',
      );
      first.child.kill('SIGKILL');
      await first.exited;
      const partial = await p.count();
      assert.ok(partial < clusters.length * LIFECYCLE_RECORDS, `killed too late (${partial} already indexed)`);
      const second = spawnCli(['up', '--worker-only'], workerEnv);
      try {
        await p.idle(240_000);
        await eventually(
          async () => ((await p.count()) === clusters.length * LIFECYCLE_RECORDS ? true : undefined),
          60_000,
          'all records',
        );
        const docs = await p.search({ match_all: {} }, 10_000);
        assert.equal(new Set(docs.map((d) => d._id)).size, clusters.length * LIFECYCLE_RECORDS);
        // The hash chain survived the kill: every cluster's seqs are 1..14, each link intact (a job
        // killed between sealing and writing reused its pending links when it was retried).
        const bySeq = new Map<string, number[]>();
        for (const d of docs) {
          const c = d._source.orchestrator.cluster.name as string;
          bySeq.set(c, [...(bySeq.get(c) ?? []), d._source.crtrail.integrity.seq as number]);
        }
        for (const [c, seqs] of bySeq)
          assert.deepEqual(
            seqs.sort((a, b) => a - b),
            Array.from({ length: LIFECYCLE_RECORDS }, (_, i) => i + 1),
            c,
          );
        for (const c of ['kill-0', 'kill-75', 'kill-149']) {
          const run = await runCli(['verify', '--cluster', c], { CRTRAIL_INDEX_PREFIX: prefix });
          assert.equal(run.code, 0, run.stderr);
        }
      } finally {
        second.child.kill('SIGTERM');
        await second.exited;
      }
    } finally {
      await hook.close();
      await p.close();
    }
  });
});
