import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createBatchQueue } from '@crtrail/queue';
import { keys, RedisKindTable } from '@crtrail/state';
import { buildWebhook, RedisBatchSink } from '@crtrail/webhook';
import { deleteRedisPrefix, testRedisUrl, uniquePrefix } from '@crtrail/testkit';

describe('the resource → kind table in Redis, shared by webhook and worker processes', () => {
  const prefix = uniquePrefix('kinds');
  let redis: Redis;
  before(() => {
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 3 });
  });
  after(async () => {
    await deleteRedisPrefix(redis, prefix);
    redis.disconnect();
  });

  test('what one process learns, another loads on a miss; kinds are added, never replaced; the hash persists', async () => {
    const webhook = new RedisKindTable(redis, prefix);
    const worker = new RedisKindTable(redis, prefix);
    await webhook.update([{ group: 'vault.example.com', resource: 'creds', kind: 'ServiceSecret' }], []);
    assert.deepEqual(webhook.kindsOf('vault.example.com', 'creds'), ['ServiceSecret']);
    assert.deepEqual(worker.kindsOf('vault.example.com', 'creds'), [], 'not loaded yet: lookups never touch Redis');
    await worker.update(
      [],
      [
        { group: 'vault.example.com', resource: 'creds' },
        { group: 'x.io', resource: 'unknown' },
      ],
    );
    assert.deepEqual(worker.kindsOf('vault.example.com', 'creds'), ['ServiceSecret']);
    assert.deepEqual(worker.kindsOf('x.io', 'unknown'), []);
    // Two processes learning different kinds of one resource at once: both are kept.
    const a = new RedisKindTable(redis, prefix);
    const b = new RedisKindTable(redis, prefix);
    await Promise.all([
      a.update([{ group: 'g.io', resource: 'things', kind: 'Thing' }], []),
      b.update([{ group: 'g.io', resource: 'things', kind: 'OtherThing' }], []),
    ]);
    assert.deepEqual((await redis.hget(keys(prefix).kinds, 'g.io/things'))?.split(',').sort(), ['OtherThing', 'Thing']);
    assert.equal(await redis.ttl(keys(prefix).kinds), -1, 'no expiry');
  });

  test('the webhook answers 503 (the apiserver retries) when the table cannot be read, and enqueues nothing', async () => {
    const queue = createBatchQueue(prefix, redis);
    const app = buildWebhook({
      sink: new RedisBatchSink(queue, redis),
      defaultCluster: 'c',
      bodyLimit: 1 << 20,
      prepareRedaction: () => Promise.reject(new Error('Redis is away')),
    });
    try {
      const event = {
        level: 'Request',
        auditID: 'a',
        stage: 'ResponseComplete',
        requestURI: '/x',
        verb: 'patch',
        user: { username: 'u' },
        objectRef: { apiGroup: 'vault.example.com', resource: 'creds', name: 'c' },
        requestObject: { data: { token: 'x' } },
      };
      const res = await app.inject({
        method: 'POST',
        url: '/audit',
        headers: { 'content-type': 'application/json' },
        payload: { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [event] },
      });
      assert.equal(res.statusCode, 503);
      assert.match(res.json().reason, /Redis is away/);
      assert.ok(res.headers['retry-after']);
      assert.equal(await queue.count(), 0);
    } finally {
      await app.close();
      await queue.close();
    }
  });
});
