import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { testRedis, uniquePrefix, deleteRedisPrefix } from '@crtrail/testkit';
import { HistoryCache, historyRetention, loadHistories, saveHistories } from '@crtrail/state';
import type { History, Version } from '@crtrail/diff';

const redis = testRedis();
const prefix = uniquePrefix('history');
after(async () => {
  await deleteRedisPrefix(redis, prefix);
  redis.disconnect();
});

const version = (rv: number): Version => ({
  recordId: `c/audit-${rv}`,
  auditID: `audit-${rv}`,
  uid: 'u1',
  resourceVersion: String(rv),
  stageTimestamp: `2026-01-01T00:00:0${rv % 10}Z`,
  verb: 'update',
  object: { apiVersion: 'x/v1', kind: 'X', metadata: { name: 'a', resourceVersion: String(rv) }, spec: { n: rv } },
  deleted: false,
});

test('a history saved as fields reads back whole and in order; only changed fields are written', async () => {
  const key = `${prefix}:state:a`;
  const cache = new HistoryCache();
  const [empty] = await loadHistories(redis, [key], cache);
  assert.equal(empty!.history, undefined);
  const h1: History = {
    versions: [version(12), version(3)].sort((a, b) => Number(a.resourceVersion) - Number(b.resourceVersion)),
  };
  await saveHistories(redis, [{ key, before: empty!, after: h1 }], cache);
  // Another worker (its own cache) sees the same history, ordered by resourceVersion (12 after 3).
  const other = new HistoryCache();
  const [seen] = await loadHistories(redis, [key], other);
  assert.deepEqual(seen!.history, h1);
  assert.deepEqual(
    seen!.history!.versions.map((v) => v.resourceVersion),
    ['3', '12'],
  );
  // It adds a version and drops the oldest: one field written, one deleted.
  const h2: History = { versions: [seen!.history!.versions[1]!, version(20)] };
  await saveHistories(redis, [{ key, before: seen!, after: h2 }], other);
  assert.deepEqual((await redis.hkeys(key)).sort(), ['rev', 'v:c/audit-12', 'v:c/audit-20']);
  // The first worker's cached copy is now stale: Redis says so (rev), and it reads the new one.
  const [fresh] = await loadHistories(redis, [key], cache);
  assert.deepEqual(fresh!.history, h2);
  assert.equal(fresh!.rev, 2);
  // Unchanged since: answered from the cache (the very same object).
  const [again] = await loadHistories(redis, [key], cache);
  assert.equal(again!.history, fresh!.history);
});

test('a history stored as one JSON string by an earlier version is read, then rewritten as a hash', async () => {
  const key = `${prefix}:state:legacy`;
  const legacy: History = { versions: [version(1), version(2)] };
  await redis.set(key, JSON.stringify(legacy));
  const cache = new HistoryCache();
  const [loaded] = await loadHistories(redis, [key], cache);
  assert.equal(loaded!.legacy, true);
  assert.deepEqual(loaded!.history, legacy);
  const next: History = { versions: [...legacy.versions, version(3)] };
  await saveHistories(redis, [{ key, before: loaded!, after: next }], cache);
  assert.equal(await redis.type(key), 'hash');
  const [reread] = await loadHistories(redis, [key], new HistoryCache());
  assert.deepEqual(reread!.history, next);
});

test('a cached history evicted while Redis confirms it is current is still returned (concurrent jobs)', async () => {
  const key = `${prefix}:state:evicted`;
  const cache = new HistoryCache(1);
  const [empty] = await loadHistories(redis, [key], cache);
  const h: History = { versions: [version(7)] };
  await saveHistories(redis, [{ key, before: empty!, after: h }], cache);
  // The load is sent with the cached rev; another job fills the one-entry cache before the reply.
  const loading = loadHistories(redis, [key], cache);
  cache.remember(`${prefix}:state:other`, 1, { versions: [version(8)] });
  assert.equal(cache.get(key), undefined);
  const [loaded] = await loading;
  assert.equal(loaded!.history, h);
  assert.equal(loaded!.rev, 1);
});

test('the history cache is bounded by the JSON size it holds, least recently used dropped first', async () => {
  const empty = { history: undefined, rev: 0, legacy: false };
  const oneVersion = JSON.stringify(version(1)).length;
  // Room for two one-version histories, not three.
  const cache = new HistoryCache(2 * oneVersion + 10);
  const keys = ['b1', 'b2', 'b3'].map((k) => `${prefix}:state:${k}`);
  await saveHistories(redis, [{ key: keys[0]!, before: empty, after: { versions: [version(1)] } }], cache);
  await saveHistories(redis, [{ key: keys[1]!, before: empty, after: { versions: [version(2)] } }], cache);
  cache.get(keys[0]!); // a read does not refresh: order is that of the saves and loads
  await saveHistories(redis, [{ key: keys[2]!, before: empty, after: { versions: [version(3)] } }], cache);
  assert.deepEqual(
    keys.map((k) => cache.get(k) !== undefined),
    [false, true, true],
  );
  // Loaded histories count their stored size too.
  await loadHistories(redis, [keys[0]!], cache);
  assert.deepEqual(
    keys.map((k) => cache.get(k) !== undefined),
    [true, false, true],
  );
});

test('retention: each save renews the TTL of CRTRAIL_STATE_TTL_DAYS; a deleted object gets the shorter one; re-created, it is kept again', async () => {
  const key = `${prefix}:state:ttl`;
  const cache = new HistoryCache();
  assert.deepEqual(historyRetention(0, 0), {}, 'off by default');
  const retention = historyRetention(30, 1);
  assert.deepEqual(retention, { ttlSeconds: 30 * 86_400, deletedTtlSeconds: 86_400 });
  const [empty] = await loadHistories(redis, [key], cache);
  await saveHistories(redis, [{ key, before: empty!, after: { versions: [version(1)] } }], cache, retention);
  const ttl = await redis.ttl(key);
  assert.ok(ttl > 29 * 86_400 && ttl <= 30 * 86_400, `ttl ${ttl}`);
  const [live] = await loadHistories(redis, [key], cache);
  await saveHistories(
    redis,
    [{ key, before: live!, after: { versions: [version(1), { ...version(2), verb: 'delete', deleted: true }] } }],
    cache,
    retention,
  );
  const deletedTtl = await redis.ttl(key);
  assert.ok(deletedTtl > 0 && deletedTtl <= 86_400, `deleted ttl ${deletedTtl}`);
  // Only a deleted-object TTL configured: a re-created object's history loses its expiry.
  const [gone] = await loadHistories(redis, [key], cache);
  await saveHistories(
    redis,
    [{ key, before: gone!, after: { versions: [...gone!.history!.versions, version(3)] } }],
    cache,
    historyRetention(0, 1),
  );
  assert.equal(await redis.ttl(key), -1, 'kept again');
  // Without any retention nothing expires (the default).
  const key2 = `${prefix}:state:ttl-off`;
  const [none] = await loadHistories(redis, [key2], cache);
  await saveHistories(redis, [{ key: key2, before: none!, after: { versions: [version(1)] } }], cache);
  assert.equal(await redis.ttl(key2), -1);
});
