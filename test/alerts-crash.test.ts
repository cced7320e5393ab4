import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '@crtrail/audit';
import { loadConfig } from '@crtrail/config';
import { classifyEvent } from '@crtrail/filter';
import { indexNames, installTemplates, RecordLocator } from '@crtrail/store';
import { cleanupPrefix, eventually, testEs, testRedis, testRedisUrl, uniquePrefix } from '@crtrail/testkit';
import { createRedis } from '@crtrail/queue';
import { HistoryCache } from '@crtrail/state';
import { createAlerting, createEnricher, processBatch, type Alerting, type BatchDeps } from '@crtrail/worker';
import { demoStory } from '../services/cli/src/demo-story.js';
import { Registry } from 'prom-client';

/**
 * At least once, exactly once: a worker that dies after Elasticsearch stored a batch's records but
 * before it enqueued their alerts (here: the enqueue throws, as the process would have died there)
 * leaves the records' chain links pending; the batch's retry finds the records stored, sees the
 * pending links, and alerts them then — once.
 */
describe('alerts survive a crash between the write and the enqueue', () => {
  const prefix = uniquePrefix('alerts-crash');
  const es = testEs();
  const redis = testRedis();
  // BullMQ's worker needs a connection without a per-request retry limit.
  const bullRedis = createRedis(testRedisUrl());
  let server: Server;
  const got: Array<{ record_id: string }> = [];
  let dir: string;
  let alerting: Alerting;

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { alert: { record_id: string } }).alert);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(join(tmpdir(), 'crtrail-alerts-crash-'));
  });
  after(async () => {
    await alerting?.close();
    bullRedis.disconnect();
    server.close();
    rmSync(dir, { recursive: true, force: true });
    await cleanupPrefix(prefix, es, redis);
    await es.close();
    redis.disconnect();
  });

  test('the retry alerts what the crashed attempt stored, and nothing twice', async () => {
    const file = join(dir, 'crtrail.yaml');
    writeFileSync(
      file,
      [
        'alerts:',
        '  group_window_seconds: 0',
        '  sinks:',
        `    - { type: webhook, url: "http://127.0.0.1:${(server.address() as { port: number }).port}/hook" }`,
      ].join('\n'),
    );
    const config = loadConfig(file);
    await installTemplates(es, prefix);
    alerting = await createAlerting({ redis: bullRedis, prefix, config, registry: new Registry() });
    const enrich = createEnricher(config);
    const base = {
      es,
      redis,
      prefix,
      historyCache: new HistoryCache(),
      enrich,
      config,
      salt: 'a-salt-of-sixteen-chars',
      locator: new RecordLocator(es, indexNames(prefix).alias),
      refresh: 'wait_for' as const,
    };
    const job = {
      cluster: 'crash',
      receivedAt: Date.now(),
      events: demoStory().filter((e) => classifyEvent(e).keep) as AuditEvent[],
    };

    // The first attempt stores its records, then "dies" where the alerts would be enqueued.
    const dying: BatchDeps = { ...base, alerts: { enqueue: () => Promise.reject(new Error('worker killed here')) } };
    await assert.rejects(processBatch(structuredClone(job), dying), /worker killed here/);
    await es.indices.refresh({ index: indexNames(prefix).alias });
    const stored = (await es.count({ index: indexNames(prefix).alias })).count;
    assert.equal(stored, job.events.length, 'the records were stored before the crash');
    assert.equal(got.length, 0);

    // BullMQ retries the job on a live worker: every record is a duplicate now, its alert is sent.
    const retry = await processBatch(structuredClone(job), { ...base, alerts: alerting });
    assert.equal(retry.created, 0);
    await eventually(async () => (got.length >= 3 ? true : undefined), 30_000, 'the alerts of the stored records');
    const alerted = got.map((a) => a.record_id);
    // A third attempt (another retry, a replay) alerts nothing again.
    await processBatch(structuredClone(job), { ...base, alerts: alerting });
    await sleep(2_000);
    assert.deepEqual(got.map((a) => a.record_id).sort(), [...alerted].sort(), 'no alert twice');
    assert.equal(new Set(alerted).size, alerted.length);
    assert.ok(alerted.length >= 3, `the critical edit, the denied attempt and the delete: ${alerted.length}`);
  });
});
