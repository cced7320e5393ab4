import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AuditEvent, KubeObject } from '@crtrail/audit';
import { applyMutation, expandMutations, MAX_VERSIONS, type ApplyResult, type History } from '../src/index.js';

const REF = { apiGroup: 'example.com', apiVersion: 'v1', resource: 'widgets', namespace: 'ns', name: 'w' };

function obj(
  rv: number,
  spec: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  uid = 'uid-1',
): KubeObject {
  return {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: {
      name: 'w',
      namespace: 'ns',
      uid,
      resourceVersion: String(rv),
      generation: rv,
      managedFields: [{ manager: 'm', operation: 'Update' }],
      ...((extra.metadata as object) ?? {}),
    },
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
  const { mutation } = expandMutations(event, 'c')[0]!;
  return applyMutation(history, mutation);
}

/** Applies events in the given order, repairs in place: the final records (sorted by id) and history. */
function deliver(order: AuditEvent[]) {
  let h: History | undefined;
  const records = new Map<string, unknown>();
  for (const e of order) {
    const { mutation } = expandMutations(e, 'c')[0]!;
    const r = applyMutation(h, mutation);
    h = r.history;
    records.set(mutation.recordId, r.record);
    for (const rep of r.repairs) records.set(rep.recordId, { ...(records.get(rep.recordId) as object), ...rep.change });
  }
  return { records: [...records.entries()].sort(), h };
}

test('create: every field an add, baseline none; server defaulting is a server mutation; status dropped by the server is not', () => {
  const r = apply(
    undefined,
    ev('create', obj(1, { size: 1, mode: 'auto' }), {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w' },
      spec: { size: 1 },
      status: { x: 1 },
    }),
  );
  assert.equal(r.record.kind, 'create');
  assert.equal(r.record.baseline, 'none');
  assert.deepEqual(r.record.paths, [
    '/apiVersion',
    '/kind',
    '/metadata/name',
    '/metadata/namespace',
    '/spec/mode',
    '/spec/size',
  ]);
  assert.deepEqual(r.record.server_mutations, [
    { op: 'add', path: '/metadata/namespace', new: 'ns' },
    { op: 'add', path: '/spec/mode', new: 'auto' },
  ]);
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
  const patch = [
    { op: 'replace', path: '/spec/size', value: 5 },
    { op: 'remove', path: '/spec/old' },
  ];
  const cold = apply(undefined, ev('patch', obj(7, { size: 5 }), patch));
  assert.equal(cold.record.patch_type, 'json');
  assert.equal(cold.record.baseline, 'unknown');
  assert.deepEqual(cold.record.ops, [
    { op: 'replace', path: '/spec/size', new: 5 },
    { op: 'remove', path: '/spec/old' },
  ]);
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
  assert.deepEqual(merge.record.ops, [
    { op: 'remove', path: '/spec/gone' },
    { op: 'replace', path: '/spec/size', new: 2 },
  ]);
  const applied = obj(
    3,
    { size: 2 },
    { metadata: { managedFields: [{ manager: 'argocd-controller', operation: 'Apply' }] } },
  );
  const ssa = apply(
    undefined,
    ev(
      'patch',
      applied,
      { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { size: 2 } },
      { requestURI: '/apis/example.com/v1/namespaces/ns/widgets/w?fieldManager=argocd-controller' },
    ),
  );
  assert.equal(ssa.record.patch_type, 'apply');
  assert.deepEqual(ssa.record.ops, [{ op: 'replace', path: '/spec/size', new: 2 }]);
});

test('status subresource writes are kind status; metadata-only changes are kind metadata', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1 }))).history;
  const s = apply(
    h,
    ev('update', obj(2, { size: 1 }, { status: { ready: true } }), undefined, {
      objectRef: { ...REF, subresource: 'status' },
    }),
  );
  assert.equal(s.record.kind, 'status');
  assert.deepEqual(s.record.ops, [{ op: 'add', path: '/status', new: { ready: true } }]);
  const m = apply(
    s.history,
    ev('patch', obj(3, { size: 1 }, { status: { ready: true }, metadata: { labels: { a: 'b' } } }), {
      metadata: { labels: { a: 'b' } },
    }),
  );
  assert.equal(m.record.kind, 'metadata');
  const mixed = apply(
    m.history,
    ev('update', obj(4, { size: 2 }, { status: { ready: false }, metadata: { labels: { a: 'b' } } })),
  );
  assert.equal(mixed.record.kind, 'mixed');
});

test('delete: held by a finalizer is a metadata change that adds deletionTimestamp; a real removal records the removed fields', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1 }, { metadata: { finalizers: ['f'] } }))).history;
  const held = apply(
    h,
    ev('delete', obj(2, { size: 1 }, { metadata: { finalizers: ['f'], deletionTimestamp: '2026-11-02T10:00:00Z' } })),
  );
  assert.equal(held.record.kind, 'metadata');
  assert.deepEqual(held.record.ops, [{ op: 'add', path: '/metadata/deletionTimestamp', new: '2026-11-02T10:00:00Z' }]);
  assert.equal(held.history.versions.at(-1)!.deleted, false);
  const gone = apply(h, ev('delete', obj(1, { size: 1 })));
  assert.equal(gone.record.kind, 'delete');
  assert.deepEqual(
    gone.record.ops.find((o) => o.path === '/spec/size'),
    { op: 'remove', path: '/spec/size', old: 1 },
  );
  assert.equal(gone.history.versions.at(-1)!.deleted, true);
});

test('deletecollection: one mutation per listed object, each with its own record id', () => {
  const list = {
    kind: 'WidgetList',
    apiVersion: 'example.com/v1',
    items: [
      obj(5, { a: 1 }, {}, 'u-a'),
      { ...obj(6, { b: 1 }, {}, 'u-b'), metadata: { name: 'v', namespace: 'ns', uid: 'u-b', resourceVersion: '6' } },
    ],
  };
  const e = ev('deletecollection', list, undefined, {
    objectRef: { apiGroup: 'example.com', resource: 'widgets', namespace: 'ns' },
  });
  const muts = expandMutations(e, 'c');
  assert.deepEqual(
    muts.map((m) => m.key.name),
    ['w', 'v'],
  );
  assert.notEqual(muts[0]!.mutation.recordId, muts[1]!.mutation.recordId);
  assert.equal(applyMutation(undefined, muts[0]!.mutation).record.kind, 'delete');
});

test('failed writes store nothing: 403 has no ops; a 409 update shows what was attempted against the version it named', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1 }))).history;
  const denied = apply(h, ev('patch', { kind: 'Status', code: 403 }, undefined, { responseStatus: { code: 403 } }));
  assert.deepEqual(denied.record.ops, []);
  assert.equal(denied.history.versions.length, 1);
  const conflict = apply(
    h,
    ev('update', { kind: 'Status', code: 409 }, obj(1, { size: 9 }), { responseStatus: { code: 409 } }),
  );
  assert.deepEqual(conflict.record.ops, [{ op: 'replace', path: '/spec/size', old: 1, new: 9 }]);
  assert.equal(conflict.history.versions.length, 1);
});

test('dry run: diffed against the stored version it names, stores nothing', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1 }))).history;
  const r = apply(
    h,
    ev(
      'patch',
      obj(1, { size: 4 }),
      { spec: { size: 4 } },
      { requestURI: '/apis/example.com/v1/namespaces/ns/widgets/w?dryRun=All' },
    ),
  );
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

const writeArb = fc.record({
  kind: fc.constantFrom('update', 'patch-merge', 'patch-json', 'status', 'noop', 'dry', 'fail', 'recreate'),
  size: fc.integer({ min: 0, max: 5 }),
  label: fc.constantFrom('a', 'b', 'c'),
  ready: fc.boolean(),
});

/**
 * One object's audit events for random writes: create, then spec/status/label changes, no-ops, dry
 * runs, conflicts, delete + recreate, storing at most 1 + `budget` versions. Order independence is
 * promised within the history window: an event arriving after MAX_VERSIONS newer versions is out of it.
 */
function scenario(
  writes: Array<{ kind: string; size: number; label: string; ready: boolean }>,
  budget = MAX_VERSIONS - 1,
): AuditEvent[] {
  n = 0;
  type S = { size: number; label: string; ready: boolean };
  let uid = 1;
  const mk = (v: number, s: S) =>
    obj(v, { size: s.size }, { metadata: { labels: { l: s.label } }, status: { ready: s.ready } }, `uid-${uid}`);
  let rv = 1;
  let state: S = { size: 0, label: 'a', ready: false };
  const events: AuditEvent[] = [ev('create', mk(1, state))];
  for (const w of writes) {
    const stores = w.kind === 'recreate' ? 2 : ['dry', 'fail', 'noop'].includes(w.kind) ? 0 : 1;
    if (stores > budget) continue;
    budget -= stores;
    const next = { size: w.size, label: w.label, ready: w.ready };
    if (w.kind === 'dry')
      events.push(ev('patch', mk(rv, next), { spec: { size: next.size } }, { requestURI: '/x?dryRun=All' }));
    else if (w.kind === 'fail')
      events.push(ev('update', { kind: 'Status' }, mk(rv, next), { responseStatus: { code: 409 } }));
    else if (w.kind === 'noop') events.push(ev('update', mk(rv, state), mk(rv, state)));
    else if (w.kind === 'recreate') {
      events.push(ev('delete', mk(rv, state)));
      uid++;
      rv += 1 + (w.size % 2);
      state = next;
      events.push(ev('create', mk(rv, next)));
    } else {
      rv += 1 + (w.size % 2);
      state = next;
      const o = mk(rv, next);
      if (w.kind === 'update') events.push(ev('update', o, o));
      else if (w.kind === 'status') events.push(ev('update', o, o, { objectRef: { ...REF, subresource: 'status' } }));
      else if (w.kind === 'patch-merge')
        events.push(ev('patch', o, { spec: { size: next.size }, metadata: { labels: { l: next.label } } }));
      else events.push(ev('patch', o, [{ op: 'replace', path: '/spec/size', value: next.size }]));
    }
  }
  return events;
}

/** A random permutation of `events` (Fisher-Yates driven by fast-check's stream), with `dups` random re-deliveries at random places. */
function shuffle(events: AuditEvent[], rand: Iterator<number>, dups: number): AuditEvent[] {
  const out = [...events];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rand.next().value % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  for (let d = 0; d < dups; d++)
    out.splice(rand.next().value % (out.length + 1), 0, out[rand.next().value % out.length]!);
  return out;
}

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

test("property: any delivery order (with duplicates) of one object's writes yields the in-order records and history", () => {
  fc.assert(
    fc.property(
      fc.array(writeArb, { minLength: 2, maxLength: 8 }),
      fc.infiniteStream(fc.nat()),
      fc.integer({ min: 0, max: 3 }),
      (writes, rand, dups) => {
        const events = scenario(writes);
        const run = (order: AuditEvent[]) => JSON.stringify(deliver(order));
        assert.equal(run(shuffle(events, rand[Symbol.iterator](), dups)), run(events));
      },
    ),
    { numRuns: RUNS },
  );
});

test('property: at the window edge (MAX_VERSIONS + 1 versions: the oldest is dropped), records and history stay order-independent', () => {
  const stateWrite = fc.record({
    kind: fc.constantFrom('update', 'patch-merge', 'patch-json', 'status'),
    size: fc.integer({ min: 0, max: 5 }),
    label: fc.constantFrom('a', 'b', 'c'),
    ready: fc.boolean(),
  });
  fc.assert(
    fc.property(
      fc.array(stateWrite, { minLength: MAX_VERSIONS, maxLength: MAX_VERSIONS }),
      fc.infiniteStream(fc.nat()),
      fc.integer({ min: 0, max: 3 }),
      (writes, rand, dups) => {
        const events = scenario(writes, MAX_VERSIONS);
        const run = (order: AuditEvent[]) => JSON.stringify(deliver(order));
        assert.equal(run(shuffle(events, rand[Symbol.iterator](), dups)), run(events));
      },
    ),
    { numRuns: RUNS },
  );
});

test('property: with lost events, any delivery order of what did arrive yields the records of its in-order delivery', () => {
  fc.assert(
    fc.property(
      fc.array(writeArb, { minLength: 2, maxLength: 8 }),
      fc.infiniteStream(fc.nat()),
      fc.infiniteStream(fc.boolean()),
      (writes, rand, keep) => {
        const it = keep[Symbol.iterator]();
        const arrived = scenario(writes).filter(() => it.next().value);
        fc.pre(arrived.length > 0);
        const run = (order: AuditEvent[]) => JSON.stringify(deliver(order));
        assert.equal(run(shuffle(arrived, rand[Symbol.iterator](), 1)), run(arrived));
      },
    ),
    { numRuns: RUNS },
  );
});

test('JSON-pointer escaping and array index ops through the engine', () => {
  const h = apply(
    undefined,
    ev(
      'create',
      obj(
        1,
        { ports: [80, 443, 8080], rules: [{ host: 'a' }] },
        { metadata: { labels: { 'app.kubernetes.io/name': 'w', 'a~b': 'x' } } },
      ),
    ),
  ).history;
  const r = apply(
    h,
    ev(
      'update',
      obj(
        2,
        { ports: [80, 8443], rules: [{ host: 'b' }, { host: 'c' }] },
        { metadata: { labels: { 'app.kubernetes.io/name': 'v', 'a~b': 'y' } } },
      ),
    ),
  );
  assert.deepEqual(r.record.ops, [
    { op: 'replace', path: '/metadata/labels/app.kubernetes.io~1name', old: 'w', new: 'v' },
    { op: 'replace', path: '/metadata/labels/a~0b', old: 'x', new: 'y' },
    { op: 'replace', path: '/spec/ports/1', old: 443, new: 8443 },
    { op: 'remove', path: '/spec/ports/2', old: 8080 },
    { op: 'replace', path: '/spec/rules/0/host', old: 'a', new: 'b' },
    { op: 'add', path: '/spec/rules/1', new: { host: 'c' } },
  ]);
  assert.deepEqual(r.record.paths, [
    '/metadata/labels/app.kubernetes.io~1name',
    '/metadata/labels/a~0b',
    '/spec/ports/1',
    '/spec/ports/2',
    '/spec/rules/0/host',
    '/spec/rules/1',
  ]);
  assert.deepEqual(r.record.patch, [
    { op: 'replace', path: '/metadata/labels/app.kubernetes.io~1name', value: 'v' },
    { op: 'replace', path: '/metadata/labels/a~0b', value: 'y' },
    { op: 'replace', path: '/spec/ports/1', value: 8443 },
    { op: 'remove', path: '/spec/ports/2' },
    { op: 'replace', path: '/spec/rules/0/host', value: 'b' },
    { op: 'add', path: '/spec/rules/1', value: { host: 'c' } },
  ]);
  assert.equal(r.record.kind, 'mixed');
});

test('JSON Patch appends (`/-`) without a baseline are named by their index in the response; move removes its source', () => {
  const patch = [
    { op: 'add', path: '/spec/list/-', value: 'x' },
    { op: 'add', path: '/spec/list/-', value: 'y' },
    { op: 'move', from: '/spec/a', path: '/spec/b' },
    { op: 'test', path: '/spec/c', value: 1 },
  ];
  const r = apply(undefined, ev('patch', obj(4, { list: ['p', 'x', 'y'], b: 7, c: 1 }), patch));
  assert.deepEqual(r.record.ops, [
    { op: 'add', path: '/spec/list/1', new: 'x' },
    { op: 'add', path: '/spec/list/2', new: 'y' },
    { op: 'remove', path: '/spec/a' },
    { op: 'add', path: '/spec/b', new: 7 },
  ]);
  assert.equal(r.record.baseline, 'unknown');
});

test('server-side apply is recognised without managedFields (omitManagedFields policy) by force=true', () => {
  const response = obj(3, { size: 2 });
  delete (response.metadata as Record<string, unknown>).managedFields;
  const r = apply(
    undefined,
    ev(
      'patch',
      response,
      { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'ns' }, spec: { size: 2 } },
      { requestURI: '/apis/example.com/v1/namespaces/ns/widgets/w?fieldManager=flux&force=true' },
    ),
  );
  assert.equal(r.record.patch_type, 'apply');
  assert.deepEqual(r.record.ops, [{ op: 'replace', path: '/spec/size', new: 2 }]);
  // A merge patch document that happens to carry apiVersion/kind, with managedFields showing an Update: merge.
  const merge = apply(
    undefined,
    ev(
      'patch',
      obj(3, { size: 2 }),
      { apiVersion: 'example.com/v1', kind: 'Widget', spec: { size: 2 } },
      { requestURI: '/apis/example.com/v1/namespaces/ns/widgets/w?fieldManager=m' },
    ),
  );
  assert.equal(merge.record.patch_type, 'merge');
});

test('server mutations of a merge patch: the patch applied to the known state vs what was stored', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1, keep: true }))).history;
  const r = apply(h, ev('patch', obj(2, { size: 2, keep: true, mode: 'defaulted' }), { spec: { size: 2 } }));
  assert.equal(r.record.patch_type, 'merge');
  assert.deepEqual(r.record.ops, [
    { op: 'add', path: '/spec/mode', new: 'defaulted' },
    { op: 'replace', path: '/spec/size', old: 1, new: 2 },
  ]);
  assert.deepEqual(r.record.server_mutations, [{ op: 'add', path: '/spec/mode', new: 'defaulted' }]);
});

test('a status write that changes nothing is noop; with an unknown baseline it shows its status', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1 }, { status: { ready: true } }))).history;
  const same = apply(
    h,
    ev('update', obj(2, { size: 1 }, { status: { ready: true } }), undefined, {
      objectRef: { ...REF, subresource: 'status' },
    }),
  );
  assert.equal(same.record.kind, 'noop');
  const cold = apply(
    undefined,
    ev('update', obj(2, { size: 1 }, { status: { ready: true } }), undefined, {
      objectRef: { ...REF, subresource: 'status' },
    }),
  );
  assert.equal(cold.record.kind, 'status');
  assert.equal(cold.record.baseline, 'unknown');
  assert.deepEqual(cold.record.ops, [{ op: 'replace', path: '/status', new: { ready: true } }]);
});

test('finalizers: held delete, then the update removing the last finalizer removes the object; a recreate is a new object', () => {
  const t = '2026-11-02T10:00:00Z';
  let r = apply(undefined, ev('create', obj(1, { size: 1 }, { metadata: { finalizers: ['f'] } })));
  r = apply(r.history, ev('delete', obj(2, { size: 1 }, { metadata: { finalizers: ['f'], deletionTimestamp: t } })));
  assert.equal(r.record.kind, 'metadata', 'held: the object goes on');
  assert.equal(r.history.versions.at(-1)!.deleted, false, 'terminating, still stored');
  assert.ok(r.record.state_hash);
  r = apply(r.history, ev('update', obj(3, { size: 1 }, { metadata: { finalizers: [], deletionTimestamp: t } })));
  assert.deepEqual(r.record.ops, [{ op: 'remove', path: '/metadata/finalizers/0', old: 'f' }]);
  assert.equal(r.record.kind, 'delete', 'removing the last finalizer ends the object');
  assert.equal(r.history.versions.at(-1)!.deleted, true);
  assert.equal(r.record.state_hash, undefined, 'nothing stored after the removal');
  r = apply(r.history, ev('create', obj(10, { size: 5 }, {}, 'uid-2')));
  assert.equal(r.record.baseline, 'none');
  r = apply(r.history, ev('update', obj(11, { size: 6 }, {}, 'uid-2')));
  assert.deepEqual(r.record.ops, [{ op: 'replace', path: '/spec/size', old: 5, new: 6 }]);
});

test('a final delete records every removed field from the known state and leaves no state hash', () => {
  const h = apply(undefined, ev('create', obj(1, { size: 1, tags: ['a'] }))).history;
  const r = apply(h, ev('delete', obj(1, { size: 1, tags: ['a'] })));
  assert.deepEqual(r.record.ops, [
    { op: 'remove', path: '/apiVersion', old: 'example.com/v1' },
    { op: 'remove', path: '/kind', old: 'Widget' },
    { op: 'remove', path: '/metadata/name', old: 'w' },
    { op: 'remove', path: '/metadata/namespace', old: 'ns' },
    { op: 'remove', path: '/spec/size', old: 1 },
    { op: 'remove', path: '/spec/tags/0', old: 'a' },
  ]);
  assert.equal(r.record.baseline, 'known');
  assert.equal(r.record.state_hash, undefined);
});

test('deletecollection without a List body (Metadata level): one record for the request', () => {
  const e = ev('deletecollection', undefined, undefined, {
    level: 'Metadata',
    objectRef: { apiGroup: 'example.com', resource: 'widgets', namespace: 'ns' },
  });
  const muts = expandMutations(e, 'c');
  assert.equal(muts.length, 1);
  const r = applyMutation(undefined, muts[0]!.mutation);
  assert.equal(r.record.kind, 'delete');
  assert.deepEqual(r.record.ops, []);
});

test('create with generateName: the object key takes the name from the response', () => {
  const e = ev(
    'create',
    obj(1, { size: 1 }),
    { metadata: { generateName: 'w-' }, spec: { size: 1 } },
    { objectRef: { apiGroup: 'example.com', resource: 'widgets', namespace: 'ns' } },
  );
  const [m] = expandMutations(e, 'c');
  assert.deepEqual(m!.key, { cluster: 'c', group: 'example.com', resource: 'widgets', namespace: 'ns', name: 'w' });
});

test('422 invalid create shows what was attempted; 422 patch its document; 409 update without a known version shows nothing', () => {
  const create = apply(
    undefined,
    ev(
      'create',
      { kind: 'Status', code: 422 },
      {
        apiVersion: 'example.com/v1',
        kind: 'Widget',
        metadata: { name: 'w', managedFields: [{}] },
        spec: { size: -1 },
      },
      { responseStatus: { code: 422 } },
    ),
  );
  assert.deepEqual(create.record.ops, [
    { op: 'add', path: '/apiVersion', new: 'example.com/v1' },
    { op: 'add', path: '/kind', new: 'Widget' },
    { op: 'add', path: '/metadata/name', new: 'w' },
    { op: 'add', path: '/spec/size', new: -1 },
  ]);
  assert.equal(create.record.kind, 'create');
  assert.equal(create.record.baseline, 'none');
  assert.deepEqual(create.record.server_mutations, []);
  assert.deepEqual(create.history, { versions: [] });
  const patch = apply(
    undefined,
    ev('patch', { kind: 'Status', code: 422 }, [{ op: 'replace', path: '/spec/size', value: -1 }], {
      responseStatus: { code: 422 },
    }),
  );
  assert.deepEqual(patch.record.ops, [{ op: 'replace', path: '/spec/size', new: -1 }]);
  assert.equal(patch.record.kind, 'spec');
  assert.equal(patch.record.state_hash, undefined);
  const conflict = apply(
    undefined,
    ev('update', { kind: 'Status', code: 409 }, obj(5, { size: 9 }), { responseStatus: { code: 409 } }),
  );
  assert.deepEqual(conflict.record.ops, []);
  assert.equal(conflict.record.baseline, 'unknown');
});

test('a failed update whose named version arrives late is repaired against it', () => {
  const e1 = ev('create', obj(1, { size: 1 }));
  const fail = ev('update', { kind: 'Status', code: 409 }, obj(1, { size: 9 }), { responseStatus: { code: 409 } });
  const late = deliver([fail, e1]);
  assert.deepEqual(late, deliver([e1, fail]));
  const failRecord = late.records.find(([, r]) => (r as { ops: unknown[] }).ops.length === 1)![1] as { ops: unknown[] };
  assert.deepEqual(failRecord.ops, [{ op: 'replace', path: '/spec/size', old: 1, new: 9 }]);
});

test('dry runs: create shows all adds; delete shows removes; an unseen named version falls back to the latest earlier one, then is repaired', () => {
  const dry = { requestURI: '/apis/example.com/v1/namespaces/ns/widgets?dryRun=All' };
  const wouldBe = obj(0, { size: 1 });
  delete (wouldBe.metadata as Record<string, unknown>).resourceVersion;
  const create = apply(undefined, ev('create', wouldBe, undefined, dry));
  assert.equal(create.record.dry_run, true);
  assert.equal(create.record.baseline, 'none');
  assert.deepEqual(create.record.paths, [
    '/apiVersion',
    '/kind',
    '/metadata/name',
    '/metadata/namespace',
    '/spec/size',
  ]);
  assert.equal(create.record.state_hash, undefined);
  assert.deepEqual(create.history, { versions: [] });

  const e1 = ev('create', obj(1, { size: 1 }));
  const e2 = ev('patch', obj(2, { size: 2 }), { spec: { size: 2 } });
  const h1 = apply(undefined, e1).history;
  const del = apply(h1, ev('delete', obj(1, { size: 1 }), undefined, dry));
  assert.equal(del.record.kind, 'delete');
  assert.ok(del.record.ops.some((o) => o.op === 'remove' && o.path === '/spec/size' && o.old === 1));
  assert.equal(del.history.versions.at(-1)!.deleted, false, 'a dry-run delete deletes nothing');

  const d = ev('patch', obj(2, { size: 7 }), { spec: { size: 7 } }, dry);
  const early = apply(h1, d);
  assert.deepEqual(
    early.record.ops,
    [{ op: 'replace', path: '/spec/size', old: 1, new: 7 }],
    'against version 1 while version 2 is unseen',
  );
  assert.equal(early.record.baseline, 'known');
  const arrival = apply(early.history, e2);
  const dRecordId = expandMutations(d, 'c')[0]!.mutation.recordId;
  assert.deepEqual(
    arrival.repairs.map((x) => [x.recordId, x.change.ops]),
    [[dRecordId, [{ op: 'replace', path: '/spec/size', old: 2, new: 7 }]]],
  );
  assert.deepEqual(deliver([e1, d, e2]), deliver([e1, e2, d]));
});

test('replays: the same record, duplicate set, no repairs, history unchanged', () => {
  const e1 = ev('create', obj(1, { size: 1 }));
  const e2 = ev('update', obj(2, { size: 2 }));
  const d = ev('patch', obj(2, { size: 3 }), { spec: { size: 3 } }, { requestURI: '/x?dryRun=All' });
  let h = apply(undefined, e1).history;
  const first = apply(h, e2);
  h = first.history;
  const again = apply(h, e2);
  assert.equal(again.duplicate, true);
  assert.deepEqual(again.record, first.record);
  assert.deepEqual(again.repairs, []);
  assert.equal(again.history, h);
  const dry1 = apply(h, d);
  const dry2 = apply(dry1.history, d);
  assert.equal(dry1.duplicate, false);
  assert.equal(dry2.duplicate, true);
  assert.deepEqual(dry2.record, dry1.record);
  assert.deepEqual(dry2.history, dry1.history);
});

test('window edge: a replay after the predecessor left the history is identical; a write older than a dropped base repairs nothing', () => {
  // resourceVersions 10, 20, 30, …: room for a late write between two of them.
  const events = [ev('create', obj(10, { size: 1 }))];
  for (let v = 2; v <= MAX_VERSIONS + 2; v++) events.push(ev('update', obj(v * 10, { size: v })));
  let h: History | undefined;
  const first = new Map<string, unknown>();
  for (const e of events) {
    const r = apply(h, e);
    h = r.history;
    first.set(e.auditID, r.record);
  }
  assert.equal(h!.versions.length, MAX_VERSIONS);
  assert.equal(h!.versions[0]!.resourceVersion, '30', 'versions 10 and 20 were dropped');
  const oldest = events[2]!; // resourceVersion 30, diffed against 20, which is gone
  const again = apply(h, oldest);
  assert.equal(again.duplicate, true);
  assert.deepEqual(again.record, first.get(oldest.auditID));
  assert.deepEqual(again.record.ops, [{ op: 'replace', path: '/spec/size', old: 2, new: 3 }]);
  // A late write at 15 sits before the dropped 20: it is not version 30's predecessor.
  const stray = apply(h, ev('update', obj(15, { size: 99 })));
  assert.deepEqual(stray.repairs, [], 'version 30 keeps its record');
  // One at 25 is: version 30 is repaired against it.
  const closer = apply(h, ev('update', obj(25, { size: 7 })));
  assert.deepEqual(
    closer.repairs.map((r) => [r.recordId, r.change.ops]),
    [[expandMutations(oldest, 'c')[0]!.mutation.recordId, [{ op: 'replace', path: '/spec/size', old: 7, new: 3 }]]],
  );
});

/** ev() with its own increasing time: writes without a resourceVersion are ordered by time, and n wraps every minute. */
let clock = 0;
function tev(verb: string, response: unknown, request?: unknown, over: Partial<AuditEvent> = {}): AuditEvent {
  clock++;
  return ev(verb, response, request, {
    stageTimestamp: `2026-11-30T12:${String(Math.floor(clock / 60)).padStart(2, '0')}:${String(clock % 60).padStart(2, '0')}.000000Z`,
    ...over,
  });
}

test('server-side apply that creates (PATCH 201): kind create, baseline none, every leaf an add, defaults are server mutations', () => {
  const applied = obj(
    1,
    { size: 1, mode: 'auto' },
    { metadata: { managedFields: [{ manager: 'flux', operation: 'Apply' }] } },
  );
  const config = {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w', namespace: 'ns' },
    spec: { size: 1 },
  };
  const r = apply(
    undefined,
    tev('patch', applied, config, {
      responseStatus: { code: 201 },
      requestURI: '/apis/example.com/v1/namespaces/ns/widgets/w?fieldManager=flux&force=true',
    }),
  );
  assert.equal(r.record.kind, 'create');
  assert.equal(r.record.baseline, 'none');
  assert.equal(r.record.patch_type, 'apply');
  assert.ok(r.record.ops.every((o) => o.op === 'add' && !('old' in o)));
  assert.deepEqual(r.record.paths, [
    '/apiVersion',
    '/kind',
    '/metadata/name',
    '/metadata/namespace',
    '/spec/mode',
    '/spec/size',
  ]);
  assert.deepEqual(r.record.server_mutations, [{ op: 'add', path: '/spec/mode', new: 'auto' }]);
});

test('JSON Patch: a failed append is resolved against the stored object; 403 without a body is a noop', () => {
  const h = apply(undefined, tev('create', obj(1, { names: ['a', 'b'] }))).history;
  const bad = apply(
    h,
    tev(
      'patch',
      { kind: 'Status', code: 422 },
      [
        { op: 'test', path: '/spec/names/0', value: 'a' },
        { op: 'add', path: '/spec/names/-', value: 'c' },
      ],
      { responseStatus: { code: 422 } },
    ),
  );
  assert.deepEqual(bad.record.ops, [{ op: 'add', path: '/spec/names/2', new: 'c' }]);
  assert.equal(bad.record.baseline, 'known');
  assert.equal(bad.record.kind, 'spec');
  assert.deepEqual(
    bad.history.versions,
    h.versions,
    'a failed write changes no state (it is kept only as a dependent, for repairs)',
  );
  const denied = apply(h, tev('patch', { kind: 'Status', code: 403 }, undefined, { responseStatus: { code: 403 } }));
  assert.deepEqual([denied.record.kind, denied.record.ops, denied.record.baseline], ['noop', [], 'unknown']);
});

test('scale subresource: the replica change on the CR, never the Scale diffed against the object; unknown subresources touch no state', () => {
  const h = apply(undefined, tev('create', obj(1, { replicas: 1, image: 'x' }))).history;
  const scaleRef = { objectRef: { ...REF, subresource: 'scale' } };
  const scaleBody = (rv: number, replicas: number) => ({
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: 'w', namespace: 'ns', uid: 'uid-1', resourceVersion: String(rv) },
    spec: { replicas },
    status: { replicas: 1 },
  });
  const r = apply(h, tev('update', scaleBody(2, 4), scaleBody(1, 4), scaleRef));
  assert.deepEqual(r.record.ops, [{ op: 'replace', path: '/spec/replicas', old: 1, new: 4 }]);
  assert.equal(r.record.kind, 'spec');
  const next = apply(r.history, tev('patch', obj(3, { replicas: 4, image: 'y' }), { spec: { image: 'y' } }));
  assert.deepEqual(
    next.record.ops,
    [{ op: 'replace', path: '/spec/image', old: 'x', new: 'y' }],
    'the state after the scale write is the CR with its new replicas',
  );
  const cold = apply(undefined, tev('update', scaleBody(2, 4), scaleBody(1, 4), scaleRef));
  assert.deepEqual(
    [cold.record.ops, cold.record.baseline],
    [[{ op: 'replace', path: '/spec/replicas', new: 4 }], 'unknown'],
  );
  const odd = apply(
    h,
    tev('update', obj(2, { replicas: 9 }), undefined, { objectRef: { ...REF, subresource: 'approval' } }),
  );
  assert.deepEqual([odd.record.kind, odd.record.ops], ['noop', []]);
  assert.deepEqual(odd.history, h);
});

test('delete answered by a Status: the uid from details, removed fields from the known state', () => {
  const h = apply(undefined, tev('create', obj(1, { size: 1 }))).history;
  const r = apply(
    h,
    tev('delete', {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Success',
      details: { name: 'w', kind: 'widgets', uid: 'uid-1' },
    }),
  );
  assert.equal(r.record.kind, 'delete');
  assert.equal(r.record.baseline, 'known');
  assert.ok(r.record.ops.some((o) => o.op === 'remove' && o.path === '/spec/size' && o.old === 1));
  assert.equal(r.history.versions.at(-1)!.deleted, true);
});

test('one object through two served versions: apiVersion is no change', () => {
  const h = apply(undefined, tev('create', obj(1, { size: 1 }))).history;
  const beta = { ...obj(2, { size: 2 }), apiVersion: 'example.com/v1beta1' };
  const r = apply(h, tev('patch', beta, { spec: { size: 2 } }, { objectRef: { ...REF, apiVersion: 'v1beta1' } }));
  assert.deepEqual(r.record.ops, [{ op: 'replace', path: '/spec/size', old: 1, new: 2 }]);
  assert.equal(r.record.kind, 'spec');
  assert.deepEqual(r.record.server_mutations, []);
});

test('a write logged without bodies is recorded with no ops; the next one shows only what it shows (gap), then the history goes on', () => {
  let r = apply(undefined, tev('create', obj(1, { size: 1, image: 'a' })));
  r = apply(r.history, tev('patch', undefined, undefined, { level: 'Metadata' }));
  assert.deepEqual([r.record.kind, r.record.baseline, r.record.ops, r.record.gap], ['noop', 'unknown', [], false]);
  r = apply(r.history, tev('patch', obj(3, { size: 2, image: 'evil' }), { spec: { size: 2 } }));
  assert.deepEqual(
    [r.record.baseline, r.record.gap, r.record.ops],
    ['unknown', true, [{ op: 'replace', path: '/spec/size', new: 2 }]],
    "the unseen image change is not this write's",
  );
  r = apply(r.history, tev('patch', obj(4, { size: 3, image: 'evil' }), { spec: { size: 3 } }));
  assert.deepEqual(
    [r.record.baseline, r.record.gap, r.record.ops],
    ['known', false, [{ op: 'replace', path: '/spec/size', old: 2, new: 3 }]],
  );
});
