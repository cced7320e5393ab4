import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createBatchQueue } from '@crtrail/queue';
import { createEsClient } from '@crtrail/store';
import { cleanupPrefix, testEs, testRedis, uniquePrefix } from '@crtrail/testkit';
import { buildWebhook, RedisBatchSink } from '@crtrail/webhook';
import { workerReadiness } from '@crtrail/worker';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';

const event = (n: number) => ({
  level: 'Metadata',
  auditID: `m-${n}`,
  stage: 'ResponseComplete',
  requestURI: '/api/v1/pods',
  verb: 'list',
  user: { username: 'u' },
});

describe('operations: metric names, bounded labels, stable reason codes, worker readiness', () => {
  const prefix = uniquePrefix('probes');
  const redis = testRedis();
  const es = testEs();
  after(async () => {
    await cleanupPrefix(prefix, es, redis);
    redis.disconnect();
    await es.close();
  });

  test('webhook /metrics: standard process/nodejs names with a service label, build info, a bounded cluster label, our own reason codes', async () => {
    const queue = createBatchQueue(prefix, redis);
    const app = buildWebhook({ sink: new RedisBatchSink(queue, redis), defaultCluster: 'default', bodyLimit: 1 << 20 });
    try {
      for (let i = 0; i < 120; i++) {
        const res = await app.inject({
          method: 'POST',
          url: `/audit/c${i}`,
          headers: { 'content-type': 'application/json' },
          payload: { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [event(i)] },
        });
        assert.equal(res.statusCode, 200);
      }
      const wrongType = await app.inject({
        method: 'POST',
        url: '/audit',
        headers: { 'content-type': 'text/plain' },
        payload: 'x',
      });
      assert.equal(wrongType.statusCode, 415);
      assert.equal(wrongType.json().error, 'CRTRAIL_ERR_UNSUPPORTED_MEDIA_TYPE');
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(text, /^process_cpu_user_seconds_total\{service="webhook"\}/m);
      assert.match(text, /^crtrail_build_info\{.*service="webhook"\} 1$/m);
      const clusters = new Set(
        [...text.matchAll(/^crtrail_webhook_events_accepted_total\{cluster="([^"]+)"/gm)].map((m) => m[1]),
      );
      assert.equal(clusters.size, 101, '100 clusters and `other`');
      assert.ok(clusters.has('other'));
      assert.match(
        text,
        /crtrail_webhook_batches_rejected_total\{reason="CRTRAIL_ERR_UNSUPPORTED_MEDIA_TYPE",service="webhook"\} 1/,
      );
      assert.doesNotMatch(text, /FST_ERR/);
    } finally {
      await app.close();
      await queue.close();
    }
  });

  test('worker readiness: ready when Redis and Elasticsearch answer; names the variable of the one that does not', async () => {
    assert.deepEqual(await workerReadiness(redis, es), { ready: true, redis: 'ok', elasticsearch: 'ok' });
    const deadEs = createEsClient({ url: 'http://127.0.0.1:9' });
    try {
      const r = await workerReadiness(redis, deadEs);
      assert.equal(r.ready, false);
      assert.equal(r.redis, 'ok');
      assert.match(r.elasticsearch, /unreachable \(CRTRAIL_ES_URL\)/);
    } finally {
      await deadEs.close();
    }
  });
});

describe('worker /readyz on its own port', () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline(uniquePrefix('readyz'), {
      worker: { serveMetrics: true },
      env: { CRTRAIL_WORKER_PORT: '0' },
    });
  });
  after(async () => p?.close());

  test('answers 200 with both services ok', async () => {
    const url = p.workers[0]!.metricsUrl!.replace(/\/metrics$/, '/readyz');
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ready', redis: 'ok', elasticsearch: 'ok' });
  });
});
