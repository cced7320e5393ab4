import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Queue, Worker } from 'bullmq';
import type { Cluster } from 'ioredis';
import { loadEnv } from '@crtrail/config';
import { createRedisClient, keySlot, redisTargetFromEnv } from '@crtrail/queue';
import { startRedisCluster } from '@crtrail/stack';
import { assertChainIntact, assertExact, batchesOf, RedisClusterScenario, SKIP_CLUSTERS } from './scenario.js';

/**
 * Redis Cluster (3 masters, 1 replica each): the connection factory's cluster mode on a real
 * cluster across the loss of a master; and the whole pipeline on it — two webhook and two worker
 * processes given only CRTRAIL_REDIS_CLUSTER_NODES, the master owning the deployment's slot SIGKILLed
 * while batches arrive (acks wait for one replica): nothing acked lost, no duplicates, the chain verifies.
 */
describe(
  'Redis Cluster: the factory on a real cluster, and crtrail across a master failover',
  { skip: SKIP_CLUSTERS, concurrency: 1 },
  () => {
    test('CRTRAIL_REDIS_CLUSTER_NODES reaches every slot, BullMQ runs on a hash-tagged prefix, a master killed fails over', async () => {
      const rc = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
      const env = loadEnv({ ...rc.env, CRTRAIL_REDIS_URL: 'redis://127.0.0.1:1' });
      const client = createRedisClient(redisTargetFromEnv(env), { maxRetriesPerRequest: 3 }) as Cluster;
      const bull = createRedisClient(redisTargetFromEnv(env)) as Cluster;
      client.on('error', () => {});
      bull.on('error', () => {});
      // BullMQ keeps all of a queue's keys in one slot when its prefix is a hash tag.
      const queue = new Queue('batches', { connection: bull, prefix: '{crtrail-test}' });
      const done: string[] = [];
      const worker = new Worker('batches', async (job) => void done.push(String(job.data.n)), {
        connection: bull,
        prefix: '{crtrail-test}',
      });
      try {
        const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
        for (const k of keys) await client.set(k, k);
        const slots = new Set(
          await Promise.all(keys.map((k) => client.call('CLUSTER', 'KEYSLOT', k) as Promise<number>)),
        );
        assert.ok(slots.size > 50, 'the keys spread over many slots');
        assert.deepEqual(await Promise.all(keys.map((k) => client.get(k))), keys);
        await queue.add('b', { n: 1 });

        const victim = rc.nodes.find((n) => n.port === rc.masterPorts()[0])!;
        await rc.kill(victim);
        await rc.waitHealthy(60_000);
        assert.ok(!rc.masterPorts().includes(victim.port), 'a replica took over the killed master');
        // Everything written before the kill is read back (WAIT-less writes of a just-killed master may be lost;
        // these were replicated long before).
        assert.deepEqual(await Promise.all(keys.map((k) => client.get(k))), keys);
        await queue.add('b', { n: 2 });
        const deadline = Date.now() + 30_000;
        while (done.length < 2 && Date.now() < deadline) await sleep(100);
        assert.deepEqual(done.sort(), ['1', '2']);
      } finally {
        await worker.close().catch(() => {});
        await queue.close().catch(() => {});
        client.disconnect();
        bull.disconnect();
        await rc.stop();
      }
    });

    test('two webhooks and two workers on CRTRAIL_REDIS_CLUSTER_NODES; a master killed; records exact after the failover', async () => {
      // Two replicas per master: acks wait for one replica (WAIT 1), and the promoted replica still has one.
      const rc = await startRedisCluster({ masters: 3, replicasPerMaster: 2 });
      const s = new RedisClusterScenario('rcluster-failover', rc);
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

        // The master that owns the deployment's slot (all of its keys are tagged {<prefix>}) dies with batches in flight.
        const slot = keySlot(`{${s.prefix}}`);
        const owner = rc.masterOfSlot(slot);
        assert.ok(owner, `a master serves slot ${slot}`);
        const inFlight = s.sendAll(nextWebhook, batchesOf(gen, 20, 40), 4);
        await sleep(300);
        await rc.kill(rc.nodes.find((n) => n.port === owner)!);
        await rc.waitHealthy(90_000);
        await inFlight;
        await s.sendAll(nextWebhook, batchesOf(gen, 10, 40), 4);

        assert.ok(await s.drain(180_000), `the queue drained after the failover: ${s.notes.join('; ')}`);
        assert.ok(
          workers.every((w) => w.alive()) && webhooks.every((w) => w.alive()),
          'no crtrail process died of the failover',
        );
        const row = await s.count({ note: `master ${owner} (slot ${slot}) killed, now ${rc.masterOfSlot(slot)}` });
        assertExact(row);
        assert.ok(row.acked > before, 'batches were acked after the failover');
        await assertChainIntact(s, row.stored);
      } finally {
        await s.teardown();
        await rc.stop();
      }
    });
  },
);
