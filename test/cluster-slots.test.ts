import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis, type Cluster, type Command } from 'ioredis';
import { Queue } from 'bullmq';
import { loadEnv } from '@crtrail/config';
import {
  addJobsAtomically,
  createRedis,
  JOB_NAME,
  keySlot,
  queueName,
  redisTargetFromEnv,
  type BatchJob,
} from '@crtrail/queue';
import { startRedisCluster } from '@crtrail/stack';
import {
  AlertMarks,
  chainHead,
  confirmChain,
  importBaselineObjects,
  keysFor,
  noteFailure,
  pendingLinks,
  pushEventDeadLetters,
  redactionSalt,
  RedisKindTable,
  sealChain,
} from '@crtrail/state';
import { deleteRedisPrefix, testRedisUrl, uniquePrefix } from '@crtrail/testkit';
import { alertQueueName } from '@crtrail/worker';

/**
 * Redis Cluster refuses (CROSSSLOT) any command, Lua script or MULTI whose keys lie in different hash
 * slots. Each of crtrail's Redis operations runs here on a real 3-master Redis Cluster (started by the
 * test, a few seconds), through a connection that records the keys of every command it sends, a
 * MULTI … EXEC counted as one: each must map to one slot (CRC16, as the server computes it), and all
 * of them to the deployment's slot, the one BullMQ's queues use too. The same run on a plain
 * connection spreads over slots, so the check can fail.
 */

interface Recorder<R extends Redis | Cluster> {
  redis: R;
  /** The keys of each command sent outside a transaction, and of each transaction as a whole. */
  groups: Array<{ what: string; keys: string[] }>;
}

/** Records the keys of every command `redis` sends (a MULTI … EXEC as one group). */
function recording<R extends Redis | Cluster>(redis: R): Recorder<R> {
  const groups: Recorder<R>['groups'] = [];
  let tx: { what: string[]; keys: string[] } | undefined;
  const send = redis.sendCommand.bind(redis) as (...a: unknown[]) => unknown;
  (redis as { sendCommand: unknown }).sendCommand = (command: Command, ...rest: unknown[]) => {
    const name = command.name.toLowerCase();
    const keys = command.getKeys().map(String);
    if (name === 'multi') tx = { what: [], keys: [] };
    else if (name === 'exec' && tx) {
      groups.push({ what: `MULTI ${tx.what.join(' ')}`, keys: tx.keys });
      tx = undefined;
    } else if (tx) {
      tx.what.push(name);
      tx.keys.push(...keys);
    } else if (keys.length > 0) groups.push({ what: name, keys });
    return send(command, ...rest);
  };
  return { redis, groups };
}

const object = (name: string): Record<string, unknown> => ({
  apiVersion: 'example.com/v1',
  kind: 'Widget',
  metadata: { namespace: 'ns', name, uid: `uid-${name}`, resourceVersion: '1' },
  spec: { size: name.length },
});

/** Every Redis operation of crtrail once, on `redis` (webhook: queue + salt + kinds; worker: locks, histories, chain, dlq, alerts). */
async function exercise(redis: Redis | Cluster, prefix: string): Promise<void> {
  await redactionSalt(redis, prefix, undefined);
  const kinds = new RedisKindTable(redis, prefix);
  await kinds.update(
    [{ group: 'example.com', resource: 'widgets', kind: 'Widget' }],
    [{ group: 'example.com', resource: 'gadgets' }],
  );
  // Locks of several objects at once, their histories read and saved (one Lua script / MULTI each).
  await importBaselineObjects(redis, prefix, 'c1', [object('a'), object('b'), object('c')] as never, () => 'widgets');
  const doc = (id: string): { id: string; doc: Record<string, unknown> } => ({
    id,
    doc: {
      '@timestamp': '2024-01-01T00:00:00Z',
      event: { id },
      orchestrator: { cluster: { name: 'c1' } },
      crtrail: { object: { name: id }, change: { state_hash: id } },
    },
  });
  await sealChain(redis, prefix, 'c1', [doc('r1'), doc('r2')]);
  await pendingLinks(redis, prefix, 'c1', ['r1', 'r2']);
  await chainHead(redis, prefix, 'c1');
  await confirmChain(redis, prefix, 'c1', ['r1']);
  await pushEventDeadLetters(redis, prefix, 'c1', [{ event: { auditID: 'x' } as never, reason: 'test' }]);
  await noteFailure(redis, prefix, '1');
  const marks = new AlertMarks(redis, prefix);
  await marks.route('sink', 'c1/widgets/ns/a', 'r1', 0, '{}');
  await marks.route('sink', 'c1/widgets/ns/a', 'r2', 60_000, '{"n":2}');
  await marks.route('sink', 'c1/widgets/ns/a', 'r3', 60_000, '{"n":3}');
  await marks.take('sink', 'c1/widgets/ns/a', 'r2');
  await marks.flushed('sink', 'c1/widgets/ns/a', 'r2');
  await marks.markSent('sink', ['r1', 'r2', 'r3'], 60);
  await marks.sent('sink', ['r1', 'r2', 'r3']);
}

describe('Redis Cluster: every script and MULTI of crtrail stays in one hash slot', { concurrency: 1 }, () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup) await c();
  });

  test("on a real Redis Cluster: one slot per command and per transaction, the deployment's slot, shared with the queues", async () => {
    const rc = await startRedisCluster({ masters: 3 });
    const prefix = uniquePrefix('slots');
    const env = loadEnv({ ...rc.env, CRTRAIL_REDIS_URL: 'redis://127.0.0.1:1' });
    const { redis, groups } = recording(createRedis(redisTargetFromEnv(env), { maxRetriesPerRequest: 3 }) as Cluster);
    redis.on('error', () => {});
    cleanup.push(async () => {
      redis.disconnect();
      await rc.stop();
    });
    await exercise(redis, prefix);
    const slot = keySlot(keysFor(redis, prefix).dlq);
    assert.ok(groups.length >= 15, `the operations were recorded (${groups.length})`);
    for (const { what, keys } of groups) {
      assert.ok(keys.length > 0, what);
      assert.deepEqual([...new Set(keys.map(keySlot))], [slot], `${what} over ${keys.join(', ')}`);
    }
    const scripts = groups.filter((g) => g.what === 'evalsha' || g.what === 'eval');
    assert.ok(
      scripts.some((g) => g.keys.length >= 3),
      'multi-key scripts (the locks of three objects) were among them',
    );

    // BullMQ on a plain connection (its own cluster checks stay out of the way) with the tagged queue
    // name: the jobs of a batch are written in one MULTI of BullMQ's scripts, all in that same slot.
    const bull = recording(new Redis(testRedisUrl(), { maxRetriesPerRequest: null }));
    cleanup.push(async () => {
      await tagged.close();
      await deleteRedisPrefix(bull.redis, prefix);
      bull.redis.disconnect();
    });
    const tagged = new Queue<BatchJob>(queueName(prefix, true), { connection: bull.redis });
    await addJobsAtomically(tagged as Queue<BatchJob>, JOB_NAME, [
      { cluster: 'c1', receivedAt: 0, events: [] },
      { cluster: 'c1', receivedAt: 0, events: [] },
    ]);
    const multis = bull.groups.filter((g) => g.what.startsWith('MULTI'));
    assert.equal(multis.length, 1);
    assert.deepEqual([...new Set(multis[0]!.keys.map(keySlot))], [slot], multis[0]!.keys.join(', '));
    assert.equal(keySlot(`bull:${alertQueueName(prefix, true)}:wait`), slot, 'the alert queue too');
  });

  test('the same operations on a plain connection spread over slots (what the check above would catch)', async () => {
    const prefix = uniquePrefix('slots-plain');
    const { redis, groups } = recording(new Redis(testRedisUrl(), { maxRetriesPerRequest: 3 }));
    cleanup.push(async () => {
      await deleteRedisPrefix(redis, prefix);
      redis.disconnect();
    });
    await exercise(redis, prefix);
    const crossSlot = groups.filter((g) => new Set(g.keys.map(keySlot)).size > 1);
    assert.ok(crossSlot.length > 0, 'untagged, some script or MULTI spans slots');
  });
});
