import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startRedisSentinel } from '@crtrail/stack';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertChainIntact, assertExact, batchesOf, SentinelScenario, SKIP_CLUSTERS } from './scenario.js';

/**
 * crtrail on a Redis Sentinel deployment (1 master, 2 replicas, 3 sentinels, AOF on every node):
 * two webhook and two worker processes, the master SIGKILLed while batches arrive. The webhooks ack
 * only what a replica has too (CRTRAIL_REDIS_WAIT_REPLICAS=1), the sentinels promote a replica, every
 * process follows it: nothing acked is lost, nothing is stored twice, the chain verifies.
 */
describe('Redis Sentinel: failover of the master mid-run', { skip: SKIP_CLUSTERS, concurrency: 1 }, () => {
  test('two webhooks and two workers; the master killed; records exact after the failover', async () => {
    const sentinel = await startRedisSentinel({ replicas: 2, sentinels: 3 });
    const s = new SentinelScenario('sentinel-failover', sentinel);
    try {
      await s.setup();
      const workers = [await s.start('worker'), await s.start('worker')];
      const webhooks = [await s.start('webhook'), await s.start('webhook')];
      let turn = 0;
      const nextWebhook = (): string => webhooks[turn++ % webhooks.length]!.url;
      const gen = s.generator({ objects: 40 });

      await s.sendAll(nextWebhook, batchesOf(gen, 10, 40), 4);
      const before = s.ackedIds.size;
      assert.ok(before > 0, `acked before the failover: ${s.statusSummary()}`);

      // The master dies with batches in flight: each is either acked by the new master or retried by its sender.
      const master = sentinel.masterPort();
      const inFlight = s.sendAll(nextWebhook, batchesOf(gen, 20, 40), 4);
      await sleep(300);
      await sentinel.kill(sentinel.nodes.find((n) => n.port === master)!);
      const promoted = await sentinel.waitForFailover(master);
      await inFlight;
      await s.sendAll(nextWebhook, batchesOf(gen, 10, 40), 4);

      assert.ok(await s.drain(180_000), `the queue drained after the failover: ${s.notes.join('; ')}`);
      assert.ok(
        workers.every((w) => w.alive()) && webhooks.every((w) => w.alive()),
        'no crtrail process died of the failover',
      );
      const row = await s.count({ note: `master ${master} killed, ${promoted} promoted` });
      assertExact(row);
      assert.ok(row.acked > before, 'batches were acked after the failover');
      await assertChainIntact(s, row.stored);
    } finally {
      await s.teardown();
      await sentinel.stop();
    }
  });
});
