import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AuditEvent } from '@crtrail/audit';
import {
  applyMutation,
  classifyKind,
  expandMutations,
  MAX_VERSIONS,
  outcomeOf,
  type History,
  type Mutation,
} from '../src/index.js';
// The generator that derives events and expected records from true stored states (shared with the end-to-end test).
import { FLUX, K9S, KUBECTL, MALLORY, OPERATOR, Story, type Written } from '../../../test/scenarios/write-shapes.js';

const STEPS = [
  'ssa',
  'create',
  'create-fin',
  'merge-spec',
  'merge-label',
  'json-replace',
  'json-append',
  'status-put',
  'status-patch',
  'scale',
  'held-delete',
  'delete-status',
  'denied',
  'conflict',
  'reject-json',
  'unseen-meta',
  'unseen-trunc',
  'beta-merge',
  'beta-update',
] as const;
type Step = (typeof STEPS)[number];

/** Writes that store a version (the history window is MAX_VERSIONS). */
const STORES = new Set<Step>([
  'ssa',
  'create',
  'create-fin',
  'merge-spec',
  'merge-label',
  'json-replace',
  'json-append',
  'status-put',
  'status-patch',
  'scale',
  'held-delete',
  'delete-status',
  'unseen-meta',
  'unseen-trunc',
  'beta-merge',
  'beta-update',
]);

/** Interprets random steps as one custom resource's true history; steps impossible in its current state are skipped. */
function story(steps: Array<{ step: Step; n: number }>): Written[] {
  const s = new Story({
    group: 'example.com',
    resource: 'widgets',
    kind: 'Widget',
    namespace: 'apps',
    name: 'w',
    versions: ['v1', 'v1beta1'],
  });
  let budget = MAX_VERSIONS;
  let failures = 0;
  for (const { step, n } of steps) {
    const cur = s.current;
    const terminating = cur?.metadata?.deletionTimestamp !== undefined;
    if (STORES.has(step) ? budget === 0 : failures >= 4) continue;
    if (step === 'ssa' || step === 'create' || step === 'create-fin') {
      if (cur) continue;
      if (step === 'ssa') s.ssaCreate(FLUX, { spec: { replicas: n, tags: ['a'] } }, { image: 'app:1' });
      else
        s.create(OPERATOR, {
          spec: { replicas: n, image: 'app:1', tags: [] },
          ...(step === 'create-fin' ? { finalizers: ['example.com/f'] } : {}),
        });
    } else if (!cur) continue;
    else if (terminating) {
      // The controller finishes the deletion before anything else happens to this object.
      if (budget === 0) break;
      s.removeFinalizers(OPERATOR);
    } else if (step === 'merge-spec') s.mergePatch(K9S, { spec: { image: `app:${n}` } });
    else if (step === 'merge-label') s.mergePatch(KUBECTL, { metadata: { labels: { v: String(n) } } });
    else if (step === 'json-replace') s.jsonPatch(KUBECTL, [{ op: 'replace', path: '/spec/replicas', value: n + 10 }]);
    else if (step === 'json-append') s.jsonPatch(OPERATOR, [{ op: 'add', path: '/spec/tags/-', value: `t${n}` }]);
    else if (step === 'status-put')
      s.update(
        OPERATOR,
        (o) => {
          o.status = { ready: n };
        },
        { sub: 'status' },
      );
    else if (step === 'status-patch') s.mergePatch(OPERATOR, { status: { observed: n } }, { sub: 'status' });
    else if (step === 'scale') s.scale(KUBECTL, n);
    else if (step === 'held-delete') {
      if (!cur.metadata.finalizers?.length) continue;
      s.heldDelete(KUBECTL);
    } else if (step === 'delete-status') {
      if (cur.metadata.finalizers?.length) continue;
      s.deleteWithStatus(KUBECTL);
    } else if (step === 'denied') s.denied(MALLORY, n % 2 ? 'patch' : 'delete');
    else if (step === 'conflict') s.applyConflict(K9S, { replicas: n + 20 });
    else if (step === 'reject-json')
      s.rejectedJsonPatch(MALLORY, [{ op: 'replace', path: '/spec/replicas', value: -n }]);
    else if (step === 'unseen-meta' || step === 'unseen-trunc')
      s.unseen(
        MALLORY,
        (o) => {
          o.spec.image = `evil:${n}`;
        },
        step === 'unseen-meta' ? 'metadata' : 'truncated',
      );
    else if (step === 'beta-merge') s.mergePatch(K9S, { spec: { replicas: n } }, { version: 'v1beta1' });
    else if (step === 'beta-update')
      s.update(
        OPERATOR,
        (o) => {
          o.spec.image = `app:b${n}`;
        },
        { version: 'v1beta1' },
      );
    if (STORES.has(step)) budget--;
    else failures++;
  }
  return s.out;
}

const mutationOf = (e: unknown): Mutation => expandMutations(e as AuditEvent, 'c')[0]!.mutation;

/** Delivers events in the given order, repairs applied in place: the final record fields by auditID. */
function deliver(order: Written[]): Map<string, unknown> {
  let h: History | undefined;
  const records = new Map<string, Record<string, unknown>>();
  for (const w of order) {
    const m = mutationOf(w.event);
    const r = applyMutation(h, m);
    h = r.history;
    records.set(m.recordId, { ...r.record });
    for (const rep of r.repairs) records.set(rep.recordId, { ...records.get(rep.recordId)!, ...rep.change });
  }
  const out = new Map<string, unknown>();
  for (const w of order) {
    const r = records.get(mutationOf(w.event).recordId)!;
    out.set(w.event.auditID, { kind: r.kind, baseline: r.baseline, gap: r.gap, ops: r.ops });
  }
  return out;
}

const sorted = (m: Map<string, unknown>) => JSON.stringify([...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));

const stepsArb = fc.array(fc.record({ step: fc.constantFrom(...STEPS), n: fc.integer({ min: 0, max: 4 }) }), {
  minLength: 1,
  maxLength: 16,
});
const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

function permute<T>(items: T[], rand: Iterator<number>): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rand.next().value % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

test('property: for any stream of real-world write shapes to one object, in-order records are the ones its true states imply', () => {
  fc.assert(
    fc.property(stepsArb, (steps) => {
      const writes = story(steps);
      const got = deliver(writes);
      for (const w of writes) {
        const e = w.expected;
        assert.deepEqual(
          got.get(w.event.auditID),
          { kind: e.kind, baseline: e.baseline, gap: e.gap, ops: e.ops },
          `${w.event.verb} ${w.event.objectRef.subresource ?? ''} ${w.event.auditID}`,
        );
      }
    }),
    { numRuns: RUNS },
  );
});

test('property: any delivery order (with duplicates) of those writes gives the same final records', () => {
  fc.assert(
    fc.property(stepsArb, fc.infiniteStream(fc.nat()), fc.integer({ min: 0, max: 2 }), (steps, rand, dups) => {
      const writes = story(steps);
      const it = rand[Symbol.iterator]();
      const order = permute(writes, it);
      for (let d = 0; d < dups && order.length > 0; d++)
        order.splice(it.next().value % (order.length + 1), 0, order[it.next().value % order.length]!);
      assert.equal(sorted(deliver(order)), sorted(deliver(writes)));
    }),
    { numRuns: RUNS },
  );
});

test('property: odd bodies in any write shape (subresources, Status answers, patch documents) never throw and never leave a kind the ops do not show', () => {
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.integer(),
      fc.string({ maxLength: 3 }),
      fc.constant(null),
      tie('array'),
      tie('object'),
    ),
    array: fc.array(tie('value'), { maxLength: 3 }),
    object: fc.dictionary(
      fc.constantFrom(
        'spec',
        'status',
        'metadata',
        'op',
        'path',
        'from',
        'value',
        'replicas',
        'kind',
        'details',
        'uid',
        '-',
      ),
      tie('value'),
      { maxKeys: 4 },
    ),
  })).value;
  const event = fc.record({
    verb: fc.constantFrom('create', 'update', 'patch', 'delete', 'deletecollection'),
    code: fc.constantFrom(200, 201, 403, 409, 422),
    sub: fc.constantFrom(undefined, 'status', 'scale', 'approval'),
    level: fc.constantFrom('Metadata', 'Request', 'RequestResponse'),
    request: fc.option(json),
    response: fc.option(
      fc.oneof(
        json,
        fc.constant({ kind: 'Status', details: { uid: 'u' } }),
        fc.constant({ kind: 'Scale', metadata: { uid: 'u', resourceVersion: '7' }, spec: { replicas: 2 } }),
      ),
    ),
  });
  fc.assert(
    fc.property(fc.array(event, { minLength: 1, maxLength: 6 }), (events) => {
      let h: History | undefined;
      events.forEach((e, i) => {
        const audit = {
          level: e.level,
          auditID: `odd-${i}`,
          stage: 'ResponseComplete',
          verb: e.verb,
          requestURI: '/apis/example.com/v1/namespaces/ns/widgets/w',
          user: { username: 'u' },
          objectRef: {
            apiGroup: 'example.com',
            apiVersion: 'v1',
            resource: 'widgets',
            namespace: 'ns',
            name: 'w',
            ...(e.sub ? { subresource: e.sub } : {}),
          },
          responseStatus: { code: e.code },
          stageTimestamp: `2026-11-30T12:00:0${i}.000000Z`,
          ...(e.request !== null ? { requestObject: e.request } : {}),
          ...(e.response !== null ? { responseObject: e.response } : {}),
        } as unknown as AuditEvent;
        for (const { mutation } of expandMutations(audit, 'c')) {
          const r = applyMutation(h, mutation);
          h = r.history;
          // What verify recomputes from the record's facts alone.
          const response =
            e.verb === 'deletecollection' ? (mutation.object ?? audit.responseObject) : audit.responseObject;
          assert.equal(
            r.record.kind,
            classifyKind(
              r.record.ops,
              outcomeOf({ verb: e.verb, code: e.code, subresource: e.sub, response }, r.record.ops),
            ),
            `${e.verb} ${e.code} ${e.sub}: kind`,
          );
          if (r.record.kind !== 'create' && r.record.kind !== 'delete') {
            assert.equal(
              r.record.kind === 'noop',
              r.record.ops.length === 0,
              `${e.verb} ${e.code}: kind ${r.record.kind} with ${r.record.ops.length} ops`,
            );
          }
        }
      });
    }),
    { numRuns: RUNS },
  );
});
