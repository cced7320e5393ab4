import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { testEsUrl, uniquePrefix } from '@crtrail/testkit';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { eventList } from './helpers/events.js';
import { runCli } from './helpers/cli.js';
import { haBatches } from './fixtures/lifecycle.js';
import { scenarios } from './scenarios/classes.js';
import type { Written } from './scenarios/write-shapes.js';
import type { StoredDoc } from './helpers/loose.js';

type Doc = StoredDoc;

/**
 * Every record right on real-world write shapes (issue 19): streams derived from true stored
 * states (test/scenarios), delivered in order and shuffled as two HA apiservers deliver them,
 * through the real webhook → Redis → workers → Elasticsearch; every record compared exactly.
 */
describe('write shapes: every record right, in any delivery order', () => {
  let p: Pipeline;
  const all = scenarios();
  const writes: Written[] = all.flatMap((s) => s.writes);
  const scenarioOf = new Map(all.flatMap((s) => s.writes.map((w) => [w.event.auditID as string, s.name])));
  before(async () => {
    p = await startPipeline(uniquePrefix('shapes'), { workers: 2 });
  });
  after(async () => p?.close());

  async function post(cluster: string, items: unknown[]): Promise<void> {
    const res = await fetch(`${p.url}/audit/${cluster}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: eventList(items),
    });
    assert.equal(res.status, 200, await res.text());
  }

  async function records(cluster: string): Promise<Map<string, Doc>> {
    await p.idle();
    const docs = await p.search({ term: { 'orchestrator.cluster.name': cluster } }, 2000);
    return new Map(docs.map((d) => [d._source.event.id as string, d]));
  }

  function check(cluster: string, docs: Map<string, Doc>): void {
    assert.equal(docs.size, writes.length, `${cluster}: one record per write`);
    for (const w of writes) {
      const doc = docs.get(w.event.auditID);
      const label = `${cluster} ${scenarioOf.get(w.event.auditID)} ${w.event.verb}${w.event.objectRef.subresource ? `/${w.event.objectRef.subresource}` : ''} ${w.event.auditID.slice(-4)}`;
      assert.ok(doc, `${label}: no record`);
      const s = doc._source;
      const c = s.crtrail.change;
      const want = w.expected;
      assert.deepEqual(
        {
          action: s.event.action,
          outcome: s.event.outcome,
          kind: c.kind,
          baseline: c.baseline,
          gap: c.gap,
          ops: c.ops,
        },
        {
          action: want.action,
          outcome: want.outcome,
          kind: want.kind,
          baseline: want.baseline,
          gap: want.gap,
          ops: want.ops,
        },
        label,
      );
      assert.deepEqual(c.paths, [...new Set(want.ops.map((o) => o.path))].sort(), label);
      if (want.uid) assert.equal(s.kubernetes.audit.objectRef.uid, want.uid, `${label}: objectRef.uid`);
      if (want.version) assert.equal(s.crtrail.object.version, want.version, `${label}: crtrail.object.version`);
      for (const o of c.ops)
        if (o.op === 'replace' && c.baseline === 'known')
          assert.ok('old' in o, `${label}: replace without old on a known baseline`);
    }
  }

  test('hand-written expectations agree with the ones derived from the states', () => {
    const find = (scenario: string, pred: (w: Written) => boolean) =>
      all.find((s) => s.name === scenario)!.writes.find(pred)!.expected;
    const ssa = find('ssa-create', (w) => w.event.verb === 'patch' && w.event.responseStatus.code === 201);
    assert.equal(ssa.kind, 'create');
    assert.ok(ssa.ops.every((o) => o.op === 'add'));
    assert.deepEqual(find('json-patch', (w) => JSON.stringify(w.event.requestObject ?? '').includes('api3')).ops, [
      { op: 'add', path: '/spec/dnsNames/2', new: 'api3.example.com' },
    ]);
    assert.deepEqual(find('failures', (w) => w.event.responseStatus.code === 409).ops, [
      { op: 'replace', path: '/spec/replicas', old: 2, new: 9 },
    ]);
    assert.deepEqual(find('subresources', (w) => w.event.objectRef.subresource === 'scale').ops, [
      { op: 'replace', path: '/spec/replicas', old: 1, new: 3 },
    ]);
    assert.deepEqual(find('gaps', (w) => w.expected.gap).ops, [{ op: 'replace', path: '/spec/replicas', new: 4 }]);
    assert.equal(
      find(
        'finalizers',
        (w) =>
          w.event.verb === 'delete' && w.event.responseStatus.code === 200 && w.event.responseObject?.kind !== 'Status',
      ).kind,
      'metadata',
    );
  });

  let inOrder = new Map<string, Doc>();
  /** Everything of a record but where and when it was delivered: must not depend on the order. */
  const comparable = (d: Doc) => {
    const { integrity: _integrity, received_at: _received, ...rest } = d._source.crtrail;
    // A repair clears prev_state_hash with null (a partial update cannot drop a field): the same as absent.
    const { prev_state_hash, ...change } = rest.change;
    // The object key starts with the cluster name, which differs by design.
    const { key: _key, ...object } = rest.object ?? {};
    return {
      outcome: d._source.event.outcome,
      objectRef: d._source.kubernetes.audit.objectRef,
      crtrail: { ...rest, object, change: { ...change, prev_state_hash: prev_state_hash ?? null } },
    };
  };

  test('(a) in order, one event per batch: every record exact; the chain and old values verify', async () => {
    // Truly in order: each event is processed before the next is sent (workers run in parallel).
    for (const w of writes) {
      await post('shapes-a', [w.event]);
      await p.idle();
    }
    inOrder = await records('shapes-a');
    check('shapes-a', inOrder);
    const run = await runCli(['verify', '--cluster', 'shapes-a'], {
      CRTRAIL_INDEX_PREFIX: p.prefix,
      CRTRAIL_ES_URL: testEsUrl(),
    });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  });

  for (const seed of [7, 23, 91]) {
    test(`(b) shuffled as two HA apiservers deliver it (seed ${seed}), concurrent batches: the same records`, async () => {
      const cluster = `shapes-b${seed}`;
      await Promise.all(
        haBatches(
          writes.map((w) => w.event),
          seed,
          3,
        ).map((b) => post(cluster, b)),
      );
      const docs = await records(cluster);
      check(cluster, docs);
      // Actor, drift, criticality, state hashes, the object: all as in order.
      for (const [id, d] of docs)
        assert.deepEqual(comparable(d), comparable(inOrder.get(id)!), `${cluster} ${scenarioOf.get(id)} ${id}`);
      const run = await runCli(['verify', '--cluster', cluster], {
        CRTRAIL_INDEX_PREFIX: p.prefix,
        CRTRAIL_ES_URL: testEsUrl(),
      });
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    });
  }
});
