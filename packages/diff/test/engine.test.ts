import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AuditEvent, KubeObject } from '@crtrail/audit';
import { applyMutation, expandMutations, type ApplyResult, type History } from '../src/index.js';

const REF = { apiGroup: 'example.com', apiVersion: 'v1', resource: 'widgets', namespace: 'ns', name: 'w' };

function obj(rv: number, spec: Record<string, unknown>, extra: Record<string, unknown> = {}, uid = 'uid-1'): KubeObject {
  return {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w', namespace: 'ns', uid, resourceVersion: String(rv), generation: rv, managedFields: [{ manager: 'm', operation: 'Update' }], ...((extra.metadata as object) ?? {}) },
    spec,
    ...(extra.status ? { status: extra.status } : {}),
  } as KubeObject;
}

let n = 0;
function ev(verb: string, response: unknown, request?: unknown, over: Partial<AuditEvent> = {}): AuditEvent {
  n++;
  return {
    level: 'RequestResponse',
    auditID: `id-${String(n).padStart(4, '0')}`,
    stage: 'ResponseComplete',
    requestURI: '/apis/example.com/v1/namespaces/ns/widgets/w',
    verb,
    user: { username: 'alice' },
    objectRef: { ...REF },
    responseStatus: { code: verb === 'create' ? 201 : 200 },
    stageTimestamp: `2026-11-02T10:00:${String(n % 60).padStart(2, '0')}.000000Z`,
    ...(request !== undefined ? { requestObject: request } : {}),
    ...(response !== undefined ? { responseObject: response } : {}),
    ...over,
  };
}

function apply(history: History | undefined, event: AuditEvent): ApplyResult {
  const [{ mutation }] = expandMutations(event, 'c') as [{ mutation: Parameters<typeof applyMutation>[1] }];
  return applyMutation(history, mutation);
}

/** Applies events in the given order, repairs in place: the final records (sorted by id) and history. */
function deliver(order: AuditEvent[]) {
  let h: History | undefined;
  const records = new Map<string, unknown>();
  for (const e of order) {
    const [{ mutation }] = expandMutations(e, 'c') as [{ mutation: Parameters<typeof applyMutation>[1] }];
    const r = applyMutation(h, mutation);
    h = r.history;
    records.set(mutation.recordId, r.record);
    for (const rep of r.repairs) records.set(rep.recordId, { ...(records.get(rep.recordId) as object), ...rep.change });
  }
  return { records: [...records.entries()].sort(), h };
}

test('create: every field an add, baseline none; server defaulting is a server mutation; status dropped by the server is not', () => {
  const r = apply(undefined, ev('create', obj(1, { size: 1, mode: 'auto' }), { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { size: 1 }, status: { x: 1 } }));
  assert.equal(r.record.kind, 'create');
  assert.equal(r.record.baseline, 'none');
  assert.deepEqual(r.record.paths, ['/apiVersion', '/kind', '/metadata/name', '/metadata/namespace', '/spec/mode', '/spec/size']);
  assert.deepEqual(r.record.server_mutations, [{ op: 'add', path: '/metadata/namespace', new: 'ns' }, { op: 'add', path: '/spec/mode', new: 'auto' }]);
  assert.equal(r.history.versions.length, 1);
  assert.equal(r.history.versions[0]!.object.metadata!.managedFields, undefined, 'managedFields are never stored');
  assert.match(r.record.state_hash!, /^[0-9a-f]{64}$/);
});

test('update (PUT) against the known state: field, old, new', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1 }))).history;
  const r = apply(h, ev('update', obj(2, { size: 3 }), obj(1, { size: 3 })));
  assert.deepEqual(r.record.ops, [{ op: 'replace', path: '/spec/size', old: 1, new: 3 }]);
  assert.equal(r.record.kind, 'spec');
  assert.equal(r.record.baseline, 'known');
  assert.deepEqual(r.previous?.spec, { size: 1 });
});

test('JSON Patch without a baseline: touched paths with their new values; with one: old values, and server mutations', () => {
  const patch = [{ op: 'replace', path: '/spec/size', value: 5 }, { op: 'remove', path: '/spec/old' }];
  const cold = apply(undefined, ev('patch', obj(7, { size: 5 }), patch));
  assert.equal(cold.record.patch_type, 'json');
  assert.equal(cold.record.baseline, 'unknown');
  assert.deepEqual(cold.record.ops, [{ op: 'replace', path: '/spec/size', new: 5 }, { op: 'remove', path: '/spec/old' }]);
  const h = apply(undefined, ev('create', obj(1, { size: 1, old: 'x' }))).history;
  // A mutating webhook also stamped spec.stamp: the server changed what the patch asked for.
  const warm = apply(h, ev('patch', obj(2, { size: 5, stamp: 'webhook' }), patch));
  assert.deepEqual(warm.record.ops, [
    { op: 'remove', path: '/spec/old', old: 'x' },
    { op: 'replace', path: '/spec/size', old: 1, new: 5 },
    { op: 'add', path: '/spec/stamp', new: 'webhook' },
  ]);
  assert.deepEqual(warm.record.server_mutations, [{ op: 'add', path: '/spec/stamp', new: 'webhook' }]);
});

test('merge patch and server-side apply are told apart by the managedFields Apply entry', () => {
  const merge = apply(undefined, ev('patch', obj(3, { size: 2 }), { spec: { size: 2, gone: null } }));
  assert.equal(merge.record.patch_type, 'merge');
  assert.deepEqual(merge.record.ops, [{ op: 'remove', path: '/spec/gone' }, { op: 'replace', path: '/spec/size', new: 2 }]);
  const applied = obj(3, { size: 2 }, { metadata: { managedFields: [{ manager: 'argocd-controller', operation: 'Apply' }] } });
  const ssa = apply(undefined, ev('patch', applied, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { size: 2 } }, { requestURI: '/apis/example.com/v1/namespaces/ns/widgets/w?fieldManager=argocd-controller' }));
  assert.equal(ssa.record.patch_type, 'apply');
  assert.deepEqual(ssa.record.ops, [{ op: 'replace', path: '/spec/size', new: 2 }]);
});

test('status subresource writes are kind status; metadata-only changes are kind metadata', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1 }))).history;
  const s = apply(h, ev('update', obj(2, { size: 1 }, { status: { ready: true } }), undefined, { objectRef: { ...REF, subresource: 'status' } }));
  assert.equal(s.record.kind, 'status');
  assert.deepEqual(s.record.ops, [{ op: 'add', path: '/status', new: { ready: true } }]);
  const m = apply(s.history, ev('patch', obj(3, { size: 1 }, { status: { ready: true }, metadata: { labels: { a: 'b' } } }), { metadata: { labels: { a: 'b' } } }));
  assert.equal(m.record.kind, 'metadata');
  const mixed = apply(m.history, ev('update', obj(4, { size: 2 }, { status: { ready: false }, metadata: { labels: { a: 'b' } } })));
  assert.equal(mixed.record.kind, 'mixed');
});

test('delete: held by a finalizer is a delete that adds deletionTimestamp; a real removal records the removed fields', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1 }, { metadata: { finalizers: ['f'] } }))).history;
  const held = apply(h, ev('delete', obj(2, { size: 1 }, { metadata: { finalizers: ['f'], deletionTimestamp: '2026-11-02T10:00:00Z' } })));
  assert.equal(held.record.kind, 'delete');
  assert.deepEqual(held.record.ops, [{ op: 'add', path: '/metadata/deletionTimestamp', new: '2026-11-02T10:00:00Z' }]);
  assert.equal(held.history.versions.at(-1)!.deleted, false);
  const gone = apply(h, ev('delete', obj(1, { size: 1 })));
  assert.equal(gone.record.kind, 'delete');
  assert.deepEqual(gone.record.ops.find((o) => o.path === '/spec/size'), { op: 'remove', path: '/spec/size', old: 1 });
  assert.equal(gone.history.versions.at(-1)!.deleted, true);
});

test('deletecollection: one mutation per listed object, each with its own record id', () => {
  const list = { kind: 'WidgetList', apiVersion: 'example.com/v1', items: [obj(5, { a: 1 }, {}, 'u-a'), { ...obj(6, { b: 1 }, {}, 'u-b'), metadata: { name: 'v', namespace: 'ns', uid: 'u-b', resourceVersion: '6' } }] };
  const e = ev('deletecollection', list, undefined, { objectRef: { apiGroup: 'example.com', resource: 'widgets', namespace: 'ns' } });
  const muts = expandMutations(e, 'c');
  assert.deepEqual(muts.map((m) => m.key.name), ['w', 'v']);
  assert.notEqual(muts[0]!.mutation.recordId, muts[1]!.mutation.recordId);
  assert.equal(applyMutation(undefined, muts[0]!.mutation).record.kind, 'delete');
});

test('failed writes store nothing: 403 has no ops; a 409 update shows what was attempted against the version it named', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1 }))).history;
  const denied = apply(h, ev('patch', { kind: 'Status', code: 403 }, undefined, { responseStatus: { code: 403 } }));
  assert.deepEqual(denied.record.ops, []);
  assert.equal(denied.history.versions.length, 1);
  const conflict = apply(h, ev('update', { kind: 'Status', code: 409 }, obj(1, { size: 9 }), { responseStatus: { code: 409 } }));
  assert.deepEqual(conflict.record.ops, [{ op: 'replace', path: '/spec/size', old: 1, new: 9 }]);
  assert.equal(conflict.history.versions.length, 1);
});

test('dry run: diffed against the stored version it names, stores nothing', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1 }))).history;
  const r = apply(h, ev('patch', obj(1, { size: 4 }), { spec: { size: 4 } }, { requestURI: '/apis/example.com/v1/namespaces/ns/widgets/w?dryRun=All' }));
  assert.equal(r.record.dry_run, true);
  assert.deepEqual(r.record.ops, [{ op: 'replace', path: '/spec/size', old: 1, new: 4 }]);
  assert.equal(r.history.versions.length, 1);
  assert.equal(r.record.state_hash, undefined);
});

test('a no-op PUT (same resourceVersion) is kind noop and stores no version', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1 }))).history;
  const r = apply(h, ev('update', obj(1, { size: 1 }), obj(1, { size: 1 })));
  assert.equal(r.record.kind, 'noop');
  assert.deepEqual(r.record.ops, []);
  assert.equal(r.history.versions.length, 1);
});

test('a new uid is a new object: the old one is no baseline', () => {
  let h = apply(undefined, ev('create', obj(1, { size: 1 }))).history;
  h = apply(h, ev('delete', obj(1, { size: 1 }))).history;
  const again = apply(h, ev('create', obj(9, { size: 2 }, {}, 'uid-2')));
  assert.equal(again.record.baseline, 'none');
  assert.equal(again.record.kind, 'create');
});

test('late event: 1,3,2 and 3,2,1 give the records and history of 1,2,3 (repairs applied in place)', () => {
  const e1 = ev('create', obj(1, { size: 1 }));
  const e2 = ev('patch', obj(2, { size: 2 }), { spec: { size: 2 } });
  const e3 = ev('update', obj(3, { size: 3 }, { status: { ok: true } }), obj(2, { size: 3 }, { status: { ok: true } }));
  const run = deliver;
  const inOrder = run([e1, e2, e3]);
  assert.deepEqual(run([e1, e3, e2]), inOrder);
  assert.deepEqual(run([e3, e2, e1]), inOrder);
  assert.deepEqual(run([e3, e3, e1, e2, e1]), inOrder, 'duplicates change nothing');
});

test('property: any delivery order (with duplicates) of one object\'s writes yields the in-order records', () => {
  const write = fc.record({
    kind: fc.constantFrom('update', 'patch-merge', 'patch-json', 'status', 'noop', 'dry', 'fail'),
    size: fc.integer({ min: 0, max: 5 }),
    label: fc.constantFrom('a', 'b', 'c'),
    ready: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(write, { minLength: 2, maxLength: 8 }), fc.infiniteStream(fc.nat()), (writes, rand) => {
      n = 0;
      type S = { size: number; label: string; ready: boolean };
      const mk = (v: number, s: S) => obj(v, { size: s.size }, { metadata: { labels: { l: s.label } }, status: { ready: s.ready } });
      let rv = 1;
      let state: S = { size: 0, label: 'a', ready: false };
      const events: AuditEvent[] = [ev('create', mk(1, state))];
      for (const w of writes) {
        const next = { size: w.size, label: w.label, ready: w.ready };
        if (w.kind === 'dry') events.push(ev('patch', mk(rv, next), { spec: { size: next.size } }, { requestURI: '/x?dryRun=All' }));
        else if (w.kind === 'fail') events.push(ev('update', { kind: 'Status' }, mk(rv, next), { responseStatus: { code: 409 } }));
        else if (w.kind === 'noop') events.push(ev('update', mk(rv, state), mk(rv, state)));
        else {
          rv += 1 + (w.size % 2);
          state = next;
          const o = mk(rv, next);
          if (w.kind === 'update') events.push(ev('update', o, o));
          else if (w.kind === 'status') events.push(ev('update', o, o, { objectRef: { ...REF, subresource: 'status' } }));
          else if (w.kind === 'patch-merge') events.push(ev('patch', o, { spec: { size: next.size }, metadata: { labels: { l: next.label } } }));
          else events.push(ev('patch', o, [{ op: 'replace', path: '/spec/size', value: next.size }]));
        }
      }
      const run = (order: AuditEvent[]) => JSON.stringify(deliver(order));
      const shuffled = [...events];
      const it = rand[Symbol.iterator]();
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = (it.next().value as number) % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const dup = shuffled[(it.next().value as number) % shuffled.length]!;
      assert.equal(run([...shuffled, dup]), run(events));
    }),
    { numRuns: 300 },
  );
});
