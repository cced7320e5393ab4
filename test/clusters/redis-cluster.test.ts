import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Queue, Worker } from 'bullmq';
import type { Cluster } from 'ioredis';
import { loadEnv } from '@crtrail/config';
import { createRedisClient, redisTargetFromEnv } from '@crtrail/queue';
import { startRedisCluster } from '@crtrail/stack';
import { testEs, uniquePrefix } from '@crtrail/testkit';
import { runCli } from '../helpers/cli.js';
import { SKIP_CLUSTERS } from './scenario.js';

/**
 * Redis Cluster (3 masters, 1 replica each): the connection factory's cluster mode on a real
 * cluster, across the loss of a master; and crtrail refusing cluster mode at start while its keys
 * are not slot-safe (the pipeline on a cluster follows once they are).
 */
describe('Redis Cluster: the factory on a real cluster, and the start-up guard', { skip: SKIP_CLUSTERS, concurrency: 1 }, () => {
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
    const worker = new Worker('batches', async (job) => void done.push(String(job.data.n)), { connection: bull, prefix: '{crtrail-test}' });
    try {
      const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
      for (const k of keys) await client.set(k, k);
      const slots = new Set(await Promise.all(keys.map((k) => client.call('CLUSTER', 'KEYSLOT', k) as Promise<number>)));
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

  test('the webhook, the worker and the CLI refuse cluster mode at start, naming the variable', async () => {
    // A prefix of its own: had a guard come too late, whatever it created would be this test's.
    const env = { CRTRAIL_REDIS_CLUSTER_NODES: '127.0.0.1:1,127.0.0.1:2', CRTRAIL_PORT: '0', CRTRAIL_WORKER_PORT: '0', CRTRAIL_INDEX_PREFIX: uniquePrefix('rc-guard') };
    for (const args of [['up', '--webhook-only'], ['up', '--worker-only'], ['dlq', 'list']]) {
      const run = await runCli(args, env);
      assert.notEqual(run.code, 0, `${args.join(' ')} started on a Redis Cluster`);
      assert.match(run.stderr, /CRTRAIL_REDIS_CLUSTER_NODES: Redis Cluster mode is not supported yet/, args.join(' '));
    }
    const es = testEs();
    try {
      const made = await es.indices.get({ index: `${env.CRTRAIL_INDEX_PREFIX}*`, allow_no_indices: true, ignore_unavailable: true });
      assert.deepEqual(Object.keys(made), [], 'refused before Elasticsearch was touched');
    } finally {
      await es.close();
    }
  });
});
