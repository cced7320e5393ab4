import { test } from 'node:test';
import assert from 'node:assert/strict';
import { objectKeyString, type AuditEvent, type KubeObject } from '@crtrail/audit';
import { applyMutation, batchObjects, expandMutations, planBatch, type History } from '../src/index.js';

function obj(name: string, rv: number, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: String(rv) },
    spec,
  } as KubeObject;
}

/** A write of widget `name` at resourceVersion `rv` (the auditID and timestamp follow rv, so batch order = rv order unless shuffled). */
function write(name: string, rv: number, spec: Record<string, unknown>, user = 'alice'): AuditEvent {
  const verb = rv === 1 ? 'create' : 'update';
  return {
    level: 'RequestResponse',
    auditID: `${name}-${rv}`,
    stage: 'ResponseComplete',
    requestURI: `/apis/example.com/v1/namespaces/ns/widgets/${name}`,
    verb,
    user: { username: user },
    objectRef: { apiGroup: 'example.com', apiVersion: 'v1', resource: 'widgets', namespace: 'ns', name },
    responseStatus: { code: verb === 'create' ? 201 : 200 },
    stageTimestamp: `2026-11-02T10:00:${String(rv).padStart(2, '0')}.000000Z`,
    requestObject: obj(name, rv, spec),
    responseObject: obj(name, rv, spec),
  } as AuditEvent;
}

const actorOf = (event: AuditEvent) => ({ name: event.user?.username ?? '?' });

test('batchObjects: each object once, in the order of its first write, createdFirst from that write', () => {
  const objects = batchObjects('c', [write('a', 1, { x: 1 }), write('b', 2, { x: 1 }), write('a', 2, { x: 2 })]);
  assert.deepEqual(
    objects.map((o) => [o.id, o.createdFirst]),
    [
      ['c/example.com/widgets/ns/a', true],
      ['c/example.com/widgets/ns/b', false],
    ],
  );
  assert.equal(objects[0]!.id, objectKeyString(objects[0]!.key));
});

test('batchObjects: recordIds hold, per object, the id of every record planBatch makes for it', () => {
  const events = [write('a', 1, { x: 1 }), write('b', 2, { x: 1 }), write('a', 2, { x: 2 }), write('a', 3, { x: 3 })];
  const objects = batchObjects('c', events);
  assert.deepEqual(
    objects.map((o) => o.recordIds.length),
    [3, 1],
  );
  const plan = planBatch('c', events, new Map(), { actorOf });
  assert.equal(plan.records.length, 4);
  for (const r of plan.records) {
    const owner = objects.find((o) => o.recordIds.includes(r.id));
    assert.ok(owner, `record ${r.id} is in no object's recordIds`);
    assert.equal(owner.key.name, r.event.objectRef?.name);
  }
});

test('planBatch gives what applying each mutation in batch order gives, per object, and the histories to save', () => {
  const events = [
    write('a', 1, { x: 1 }),
    write('b', 1, { y: 1 }),
    write('a', 2, { x: 2 }),
    write('b', 2, { y: 2 }),
    write('a', 3, { x: 3 }),
  ];
  const plan = planBatch('c', events, new Map(), { actorOf });
  // By hand, the way the engine is used one mutation at a time.
  const hist = new Map<string, History>();
  const expected = new Map<string, unknown>();
  for (const e of events) {
    for (const { key, mutation } of expandMutations(e, 'c')) {
      const r = applyMutation(hist.get(objectKeyString(key)), mutation);
      hist.set(objectKeyString(key), r.history);
      expected.set(mutation.recordId, r.record);
    }
  }
  // Grouped by object (a's records, then b's), each object's in batch order.
  assert.deepEqual(
    plan.records.map((r) => r.event.auditID),
    ['a-1', 'a-2', 'a-3', 'b-1', 'b-2'],
  );
  for (const r of plan.records) assert.deepEqual(r.change, expected.get(r.id), r.event.auditID);
  assert.deepEqual(plan.records[2]!.change.ops, [{ op: 'replace', path: '/spec/x', old: 2, new: 3 }]);
  assert.equal(plan.records[2]!.previous?.metadata?.resourceVersion, '2');
  assert.deepEqual(plan.repairs, []);
  assert.deepEqual(plan.poisoned, []);
  assert.deepEqual(
    plan.historyWrites.map((w) => w.id),
    ['c/example.com/widgets/ns/a', 'c/example.com/widgets/ns/b'],
  );
  for (const w of plan.historyWrites)
    assert.deepEqual(
      w.history.versions.map((v) => v.resourceVersion),
      hist.get(w.id)!.versions.map((v) => v.resourceVersion),
    );
});

test('the actor is classified once per record, handed to the record and kept in the history', () => {
  let calls = 0;
  const counting = (event: AuditEvent) => {
    calls++;
    return actorOf(event);
  };
  const plan = planBatch('c', [write('a', 1, { x: 1 }), write('a', 2, { x: 2 }, 'bob')], new Map(), {
    actorOf: counting,
  });
  assert.equal(calls, 2);
  assert.deepEqual(
    plan.records.map((r) => r.actor),
    [{ name: 'alice' }, { name: 'bob' }],
  );
  assert.deepEqual(
    plan.historyWrites[0]!.history.versions.map((v) => v.meta),
    [{ actor: { name: 'alice' } }, { actor: { name: 'bob' } }],
  );
  // Without actorOf: no actor, nothing annotated.
  const bare = planBatch('c', [write('a', 1, { x: 1 })], new Map());
  assert.equal(bare.records[0]!.actor, undefined);
  assert.equal(bare.historyWrites[0]!.history.versions[0]!.meta, undefined);
});

test('a late event repairs a record of an earlier batch; within one batch the repair is folded into the record', () => {
  const [v1, v2, v3] = [write('a', 1, { x: 1 }), write('a', 2, { x: 2 }), write('a', 3, { x: 3 })];
  // Batch 1 has v1 and v3 (v2 is late): v3 is diffed against v1.
  const first = planBatch('c', [v1!, v3!], new Map(), { actorOf });
  const h1 = new Map([[first.historyWrites[0]!.id, first.historyWrites[0]!.history]]);
  const late = planBatch('c', [v2!], h1, { actorOf });
  assert.deepEqual(
    late.records.map((r) => r.event.auditID),
    ['a-2'],
  );
  assert.equal(late.repairs.length, 1);
  const repair = late.repairs[0]!;
  assert.equal(repair.id, first.records[1]!.id, "v3's record is repaired");
  assert.deepEqual(repair.meta, { actor: { name: 'alice' } });
  assert.equal(repair.previous?.metadata?.resourceVersion, '2');
  assert.equal(repair.group, 'example.com');
  assert.equal(repair.resource, 'widgets');
  assert.deepEqual([repair.dryRun, repair.failed], [false, false]);
  // All three in one batch, v2 last: no repair, v3's record carries the repaired change.
  const together = planBatch('c', [v1!, v3!, v2!], new Map(), { actorOf });
  assert.deepEqual(together.repairs, []);
  const r3 = together.records.find((r) => r.event.auditID === 'a-3')!;
  assert.deepEqual(r3.change.ops, repair.change.ops);
  assert.equal(r3.previous?.metadata?.resourceVersion, '2');
});

test('a replayed batch makes the identical records and no history write', () => {
  const events = [write('a', 1, { x: 1 }), write('a', 2, { x: 2 })];
  const first = planBatch('c', events, new Map(), { actorOf });
  const histories = new Map(first.historyWrites.map((w) => [w.id, w.history]));
  const again = planBatch('c', structuredClone(events), histories, { actorOf });
  assert.deepEqual(
    again.records.map((r) => [r.id, r.change]),
    first.records.map((r) => [r.id, r.change]),
  );
  assert.deepEqual(again.historyWrites, []);
});

test('pure: neither the events nor the histories given are changed', () => {
  const events = [write('a', 1, { x: 1 }), write('a', 2, { x: 2 })];
  const seed = planBatch('c', events.slice(0, 1), new Map());
  const histories = new Map(seed.historyWrites.map((w) => [w.id, w.history]));
  const copies = [structuredClone(events), structuredClone(histories)] as const;
  planBatch('c', events, histories, { actorOf, ignorePaths: ['/metadata/resourceVersion'] });
  assert.deepEqual(events, copies[0]);
  assert.deepEqual(histories, copies[1]);
});

test('an event that throws is poisoned alone with its reason; the rest of the batch is planned', () => {
  const bad = write('b', 2, { y: 1 });
  const plan = planBatch('c', [write('a', 1, { x: 1 }), bad, write('a', 2, { x: 2 })], new Map(), {
    actorOf: (event) => {
      if (event === bad) throw new Error('cannot classify');
      return actorOf(event);
    },
  });
  assert.deepEqual(
    plan.records.map((r) => r.event.auditID),
    ['a-1', 'a-2'],
  );
  assert.equal(plan.poisoned.length, 1);
  assert.equal(plan.poisoned[0]!.event, bad);
  assert.equal(plan.poisoned[0]!.reason, 'change engine: cannot classify');
  assert.equal(plan.poisoned[0]!.error.message, 'cannot classify');
  assert.deepEqual(
    plan.historyWrites.map((w) => w.id),
    ['c/example.com/widgets/ns/a'],
  );
});
