import assert from 'node:assert/strict';
import { Queue } from 'bullmq';
import type { Client } from '@elastic/elasticsearch';
import type { Cluster, Redis } from 'ioredis';
import { loadEnv } from '@crtrail/config';
import { createRedis, queueName, redisTargetFromEnv } from '@crtrail/queue';
import type { RedisClusterSetup, RedisSentinelSetup } from '@crtrail/stack';
import { createEsClient } from '@crtrail/store';
import { CLUSTER, Scenario, type Row, type ScenarioOptions } from '../reliability/harness.js';
import type { RedisServer } from '../reliability/processes.js';
import type { EventGenerator, Generated } from '../reliability/generator.js';
import { failures } from '../reliability/report.js';
import { runCli } from '../helpers/cli.js';

/**
 * The fault suite's scenario (real `crtrail up` processes, apiserver-like senders, exact counting
 * of acked/stored/lost/duplicates) on a multi-node Redis or Elasticsearch: the subclasses only
 * change where the scenario's own reads go, the crtrail processes get the env of the mode under test.
 */

/** The slow cluster suites run only when asked for (they start 3–6 servers each). */
export const CLUSTERS_ENABLED = process.env.CRTRAIL_TEST_CLUSTERS === '1';
export const SKIP_CLUSTERS = CLUSTERS_ENABLED
  ? false
  : 'set CRTRAIL_TEST_CLUSTERS=1 to run the cluster suites (README: Running on a production Redis / Elasticsearch)';

export const batchesOf = (gen: EventGenerator, count: number, size: number): Generated[][] =>
  Array.from({ length: count }, () => gen.batch(size));

/**
 * On a Sentinel deployment: crtrail is given only the sentinels (its CRTRAIL_REDIS_URL points at a
 * port where nothing listens, so a process that used it would fail), and acks after one replica has
 * the batch (WAIT 1): an acked batch survives the loss of the master.
 */
export class SentinelScenario extends Scenario {
  private own?: { queue: Queue; redis: Redis | Cluster };

  constructor(
    name: string,
    readonly sentinel: RedisSentinelSetup,
    options: ScenarioOptions = {},
  ) {
    super(name, {
      ...options,
      env: {
        ...sentinel.env,
        CRTRAIL_REDIS_URL: 'redis://127.0.0.1:1',
        CRTRAIL_REDIS_WAIT_REPLICAS: '1',
        ...options.env,
      },
    });
  }

  override async setup(): Promise<void> {
    // No redis-server of the scenario's own: the Sentinel setup is the Redis (stopped by the test).
    this.redis = { url: 'redis://127.0.0.1:1', stop: async () => {} } as unknown as RedisServer;
  }

  /** The queue through the sentinels, as crtrail reaches it: it follows the master across the failover. */
  override queue(): Queue {
    if (!this.own) {
      const redis = createRedis(redisTargetFromEnv(loadEnv(this.env() as Record<string, string>)));
      redis.on('error', () => {});
      this.own = { redis, queue: new Queue(`${this.prefix}-batches`, { connection: redis }) };
      this.own.queue.on('error', () => {});
    }
    return this.own.queue;
  }

  override async teardown(): Promise<void> {
    if (this.own) {
      await this.own.queue.close().catch(() => {});
      this.own.redis.disconnect();
    }
    await super.teardown();
  }
}

/**
 * On a Redis Cluster: crtrail is given only the seed nodes (CRTRAIL_REDIS_CLUSTER_NODES; its
 * CRTRAIL_REDIS_URL points where nothing listens) and acks after the batch's master has one replica
 * confirming it (WAIT 1 on the master owning the deployment's slot). The scenario's own reads go
 * through a Cluster connection to the hash-tagged queue `{<prefix>}-batches`.
 */
export class RedisClusterScenario extends Scenario {
  private own?: { queue: Queue; redis: Redis | Cluster };

  constructor(
    name: string,
    readonly cluster: RedisClusterSetup,
    options: ScenarioOptions = {},
  ) {
    super(name, {
      ...options,
      env: {
        ...cluster.env,
        CRTRAIL_REDIS_URL: 'redis://127.0.0.1:1',
        CRTRAIL_REDIS_WAIT_REPLICAS: '1',
        ...options.env,
      },
    });
  }

  override async setup(): Promise<void> {
    // No redis-server of the scenario's own: the Redis Cluster is the Redis (stopped by the test).
    this.redis = { url: 'redis://127.0.0.1:1', stop: async () => {} } as unknown as RedisServer;
  }

  override queue(): Queue {
    if (!this.own) {
      const redis = createRedis(redisTargetFromEnv(loadEnv(this.env() as Record<string, string>)));
      redis.on('error', () => {});
      this.own = { redis, queue: new Queue(queueName(this.prefix, true), { connection: redis }) };
      this.own.queue.on('error', () => {});
    }
    return this.own.queue;
  }

  override async teardown(): Promise<void> {
    if (this.own) {
      await this.own.queue.close().catch(() => {});
      this.own.redis.disconnect();
    }
    await super.teardown();
  }
}

/** On an Elasticsearch cluster: the scenario counts through a client over all its nodes, as crtrail writes. */
export class EsClusterScenario extends Scenario {
  constructor(name: string, esUrl: string, options: ScenarioOptions = {}) {
    super(name, { ...options, esUrl });
    // The base class counts on the shared single node; this scenario's records are on the cluster.
    void this.es.close();
    (this as { es: Client }).es = createEsClient({ url: esUrl });
  }
}

/** The row's verdict as the fault suite gives it: nothing acked lost, no duplicate, no problem, everything acked. */
export function assertExact(row: Row): void {
  assert.ok(row.expected > 0, 'the scenario sent custom-resource writes');
  assert.equal(row.acked, row.expected, `every batch acked in the end (the sender rides out the fault): ${row.note}`);
  assert.equal(row.lost, 0, `acked events lost: ${row.note}`);
  assert.equal(row.duplicates, 0, `duplicate records: ${row.note}`);
  assert.equal(row.stored, row.acked, `every acked event has its record: ${row.note}`);
  assert.deepEqual(failures(row), [], row.note);
}

/** `crtrail verify --cluster` in the scenario's environment: the hash chain stored is intact and ends at the head in Redis. */
export async function assertChainIntact(s: Scenario, records: number): Promise<void> {
  const run = await runCli(['verify', '--cluster', CLUSTER], s.env() as Record<string, string>);
  assert.equal(run.code, 0, `crtrail verify failed (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout + run.stderr, new RegExp(`chain: intact, ${records} records of cluster ${CLUSTER}`));
}
