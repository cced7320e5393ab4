import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnv } from '@crtrail/config';
import {
  createRedis,
  deploymentTag,
  describeRedis,
  isRedisCluster,
  keySlot,
  queueName,
  redisPlan,
  redisTargetFromEnv,
} from '../src/index.js';

test('the mode follows the environment: cluster nodes > sentinels > the URL', () => {
  const single = redisTargetFromEnv(loadEnv({ CRTRAIL_REDIS_URL: 'redis://:pw@10.0.0.1:6390/3' }));
  assert.equal(single.mode, 'single');
  assert.equal(describeRedis(single), 'redis://:***@10.0.0.1:6390/3');

  const sentinel = redisTargetFromEnv(
    loadEnv({
      CRTRAIL_REDIS_URL: 'redis://app:pw@ignored:1/2',
      CRTRAIL_REDIS_SENTINELS: 's1:26379,[::1]:26380',
      CRTRAIL_REDIS_SENTINEL_NAME: 'crtrail',
    }),
  );
  assert.equal(sentinel.mode, 'sentinel');
  assert.equal(describeRedis(sentinel), 'Sentinel master crtrail (sentinels s1:26379, [::1]:26380)');

  const cluster = redisTargetFromEnv(loadEnv({ CRTRAIL_REDIS_CLUSTER_NODES: 'n1:7000,n2:7001' }));
  assert.equal(cluster.mode, 'cluster');
  assert.equal(describeRedis(cluster), 'Redis Cluster (seed nodes n1:7000, n2:7001)');
});

test('a single node: the URL, crtrail defaults under the caller options (worker null, producer a number)', () => {
  const target = redisTargetFromEnv(loadEnv({ CRTRAIL_REDIS_URL: 'redis://127.0.0.1:6390' }));
  const worker = redisPlan(target);
  assert.equal(worker.kind, 'redis');
  if (worker.kind !== 'redis') return;
  assert.equal(worker.url, 'redis://127.0.0.1:6390');
  assert.equal(worker.options.maxRetriesPerRequest, null);
  assert.equal(worker.options.enableReadyCheck, true);
  assert.equal(worker.options.tls, undefined);
  const producer = redisPlan(target, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  assert.equal(producer.kind === 'redis' && producer.options.maxRetriesPerRequest, 1);
});

test('Sentinel: master of the named set, credentials from the URL overridden by the variables, db from the URL', () => {
  const target = redisTargetFromEnv(
    loadEnv({
      CRTRAIL_REDIS_URL: 'redis://app:fromurl@x:1/2',
      CRTRAIL_REDIS_PASSWORD: 'fromenv',
      CRTRAIL_REDIS_SENTINELS: 's1:26379,s2:26379',
      CRTRAIL_REDIS_SENTINEL_NAME: 'crtrail',
      CRTRAIL_REDIS_SENTINEL_PASSWORD: 'sentinelpw',
    }),
  );
  const plan = redisPlan(target, { maxRetriesPerRequest: 1 });
  assert.equal(plan.kind, 'redis');
  if (plan.kind !== 'redis') return;
  assert.equal(plan.url, undefined, 'no URL: ioredis asks the sentinels');
  const o = plan.options;
  assert.deepEqual(o.sentinels, [
    { host: 's1', port: 26379 },
    { host: 's2', port: 26379 },
  ]);
  assert.equal(o.name, 'crtrail');
  assert.equal(o.role, 'master');
  assert.equal(o.db, 2);
  assert.equal(o.username, 'app');
  assert.equal(o.password, 'fromenv');
  assert.equal(o.sentinelPassword, 'sentinelpw');
  assert.equal(o.maxRetriesPerRequest, 1);
  assert.equal(o.enableTLSForSentinelMode, undefined);
});

test('TLS: rediss:// with the CA of CRTRAIL_REDIS_CA for the nodes and the sentinels; an unreadable CA names the variable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crtrail-ca-'));
  try {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const single = redisPlan(
      redisTargetFromEnv(loadEnv({ CRTRAIL_REDIS_URL: 'rediss://redis:6380', CRTRAIL_REDIS_CA: ca })),
    );
    assert.equal(single.kind === 'redis' && single.options.tls?.ca?.toString().includes('BEGIN CERTIFICATE'), true);
    const systemCas = redisPlan(redisTargetFromEnv(loadEnv({ CRTRAIL_REDIS_URL: 'rediss://redis:6380' })));
    assert.deepEqual(systemCas.kind === 'redis' && systemCas.options.tls, {});
    const sentinel = redisPlan(
      redisTargetFromEnv(
        loadEnv({
          CRTRAIL_REDIS_URL: 'rediss://redis:6380',
          CRTRAIL_REDIS_CA: ca,
          CRTRAIL_REDIS_SENTINELS: 's:26379',
          CRTRAIL_REDIS_SENTINEL_NAME: 'm',
        }),
      ),
    );
    assert.equal(sentinel.kind === 'redis' && sentinel.options.enableTLSForSentinelMode, true);
    assert.equal(sentinel.kind === 'redis' && Boolean(sentinel.options.sentinelTLS?.ca), true);
    assert.throws(
      () =>
        redisTargetFromEnv(
          loadEnv({ CRTRAIL_REDIS_URL: 'rediss://redis:6380', CRTRAIL_REDIS_CA: join(dir, 'missing.pem') }),
        ),
      /CRTRAIL_REDIS_CA=.*missing\.pem: cannot read it/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Cluster: node options (auth, TLS, retries) under redisOptions, queueing and ready check at the cluster level', () => {
  const target = redisTargetFromEnv(
    loadEnv({ CRTRAIL_REDIS_URL: 'rediss://u:p@ignored:1', CRTRAIL_REDIS_CLUSTER_NODES: 'n1:7000,n2:7001' }),
  );
  const retry = (): null => null;
  const plan = redisPlan(target, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
    retryStrategy: retry,
    connectTimeout: 2000,
  });
  assert.equal(plan.kind, 'cluster');
  if (plan.kind !== 'cluster') return;
  assert.deepEqual(plan.nodes, [
    { host: 'n1', port: 7000 },
    { host: 'n2', port: 7001 },
  ]);
  assert.equal(plan.options.enableOfflineQueue, false);
  assert.equal(plan.options.enableReadyCheck, true);
  assert.equal(plan.options.lazyConnect, true);
  assert.equal(plan.options.clusterRetryStrategy, retry);
  assert.equal(typeof plan.options.dnsLookup, 'function', 'TLS: connect to the announced host names');
  const node = plan.options.redisOptions!;
  assert.equal(node.maxRetriesPerRequest, 1);
  assert.equal(node.connectTimeout, 2000);
  assert.equal(node.username, 'u');
  assert.equal(node.password, 'p');
  assert.deepEqual(node.tls, {});
  assert.equal('enableOfflineQueue' in node, false);
  assert.equal('retryStrategy' in node, false);
  const workerPlan = redisPlan(target);
  assert.equal(
    workerPlan.kind === 'cluster' && workerPlan.options.redisOptions?.maxRetriesPerRequest,
    null,
    'BullMQ workers need null on every node',
  );
});

test('cluster mode is accepted: createRedis builds a Cluster for CRTRAIL_REDIS_CLUSTER_NODES, a Redis otherwise', () => {
  const cluster = createRedis(redisTargetFromEnv(loadEnv({ CRTRAIL_REDIS_CLUSTER_NODES: '127.0.0.1:7000' })), {
    lazyConnect: true,
  });
  const single = createRedis('redis://127.0.0.1:6379', { lazyConnect: true });
  try {
    assert.equal(isRedisCluster(cluster), true);
    assert.equal(isRedisCluster(single), false);
  } finally {
    cluster.disconnect();
    single.disconnect();
  }
});

test('in cluster mode the queues and every key of a deployment share the hash tag {<prefix>}; elsewhere names are unchanged', () => {
  assert.equal(deploymentTag('crtrail', false), 'crtrail');
  assert.equal(deploymentTag('crtrail', true), '{crtrail}');
  assert.equal(queueName('crtrail'), 'crtrail-batches', 'single-node and Sentinel deployments keep their queue');
  assert.equal(queueName('crtrail', true), '{crtrail}-batches');
  // BullMQ prefixes its keys with `bull:`; the tag still decides the slot.
  assert.equal(keySlot(`bull:${queueName('crtrail', true)}:wait`), keySlot('{crtrail}:state:c/g/r/ns/n'));
  assert.notEqual(keySlot(`bull:${queueName('crtrail')}:wait`), keySlot('crtrail:state:c/g/r/ns/n'));
});
