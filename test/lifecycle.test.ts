import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { uniquePrefix } from '@crtrail/testkit';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { eventList } from './helpers/events.js';
import { haBatches, lifecycle, orderedEvents } from './fixtures/lifecycle.js';
import { runCli } from './helpers/cli.js';
import { testEsUrl } from '@crtrail/testkit';
import type { StoredDoc } from './helpers/loose.js';

const FIN = ['serving.kserve.io/inferenceservice-finalizer'];
const V1 = 's3://models/fraud/v1';
const V2 = 's3://models/fraud/v2';

/** What each write of the scenario must record, written by hand from the scenario's story. */
const EXPECTED: Record<
  string,
  {
    action: string;
    outcome?: string;
    kind: string;
    baseline: string;
    dry_run?: boolean;
    patch_type?: string;
    actor?: string;
    ops?: unknown[];
    paths?: string[];
    server_mutations?: unknown[];
  }
> = {
  '001': {
    action: 'create',
    kind: 'create',
    baseline: 'none',
    actor: 'system:serviceaccount:argocd:argocd-application-controller',
    paths: [
      '/apiVersion',
      '/kind',
      '/metadata/annotations/argocd.argoproj.io~1tracking-id',
      '/metadata/labels/app.kubernetes.io~1instance',
      '/metadata/labels/argocd.argoproj.io~1instance',
      '/metadata/name',
      '/metadata/namespace',
      '/spec/predictor/maxReplicas',
      '/spec/predictor/minReplicas',
      '/spec/predictor/model/modelFormat/name',
      '/spec/predictor/model/protocolVersion',
      '/spec/predictor/model/runtime',
      '/spec/predictor/model/storageUri',
    ],
    // Defaulting by the server; `.status` sent by Argo CD and dropped by the server is not one.
    server_mutations: [{ op: 'add', path: '/spec/predictor/model/protocolVersion', new: 'v1' }],
  },
  '002': {
    action: 'update',
    kind: 'metadata',
    baseline: 'known',
    ops: [{ op: 'add', path: '/metadata/finalizers', new: FIN }],
  },
  '003': {
    action: 'update',
    kind: 'status',
    baseline: 'known',
    ops: [
      {
        op: 'add',
        path: '/status',
        new: { conditions: [{ type: 'Ready', status: 'False', reason: 'PredictorNotReady' }], observedGeneration: 1 },
      },
    ],
  },
  '004': {
    action: 'patch',
    kind: 'spec',
    baseline: 'known',
    patch_type: 'merge',
    actor: 'alice@example.com',
    ops: [{ op: 'replace', path: '/spec/predictor/minReplicas', old: 1, new: 3 }],
  },
  '005': {
    action: 'patch',
    kind: 'spec',
    baseline: 'known',
    patch_type: 'json',
    actor: 'carol@example.com',
    ops: [{ op: 'replace', path: '/spec/predictor/model/storageUri', old: V1, new: V2 }],
  },
  '006': {
    action: 'patch',
    kind: 'spec',
    baseline: 'known',
    dry_run: true,
    patch_type: 'merge',
    ops: [{ op: 'replace', path: '/spec/predictor/maxReplicas', old: 4, new: 10 }],
  },
  '007': { action: 'patch', outcome: 'failure', kind: 'noop', baseline: 'unknown', actor: 'mallory', ops: [] },
  '008': {
    action: 'patch',
    kind: 'spec',
    baseline: 'known',
    patch_type: 'apply',
    ops: [
      { op: 'replace', path: '/spec/predictor/minReplicas', old: 3, new: 1 },
      { op: 'replace', path: '/spec/predictor/model/storageUri', old: V2, new: V1 },
    ],
  },
  '009': { action: 'update', kind: 'noop', baseline: 'known', ops: [] },
  '010': {
    action: 'update',
    kind: 'status',
    baseline: 'known',
    ops: [
      { op: 'remove', path: '/status/conditions/0/reason', old: 'PredictorNotReady' },
      { op: 'replace', path: '/status/conditions/0/status', old: 'False', new: 'True' },
      { op: 'add', path: '/status/url', new: 'http://fraud-model.ml.example.com' },
    ],
  },
  '011': {
    action: 'delete',
    kind: 'metadata',
    baseline: 'known',
    ops: [{ op: 'add', path: '/metadata/deletionTimestamp', new: '2026-11-02T09:00:11Z' }],
  },
  '012': {
    action: 'update',
    kind: 'delete',
    baseline: 'known',
    ops: [{ op: 'remove', path: '/metadata/finalizers', old: FIN }],
  },
};

type Doc = StoredDoc;

/** The parts of a record that must not depend on delivery order (everything but the cluster name). */
function comparable(d: Doc) {
  const s = d._source;
  return {
    auditID: s.event.id,
    name: s.kubernetes.audit.objectRef.name,
    outcome: s.event.outcome,
    actor: s.crtrail.actor,
    change: s.crtrail.change,
    timestamp: s['@timestamp'],
  };
}

describe("change engine end to end: a GitOps-managed CR's lifecycle through webhook → Redis → 3 workers → Elasticsearch", () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline(uniquePrefix('lifecycle'), { workers: 3 });
  });
  after(async () => p?.close());

  async function deliver(cluster: string, batches: unknown[][]): Promise<Doc[]> {
    // Batches go out concurrently, as two apiservers' would; each is acked only once in Redis.
    await Promise.all(
      batches.map(async (items) => {
        const res = await fetch(`${p.url}/audit/${cluster}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: eventList(items),
        });
        assert.equal(res.status, 200);
      }),
    );
    await p.idle();
    return p.search({ term: { 'orchestrator.cluster.name': cluster } });
  }

  let inOrder: Doc[] = [];

  test('(a) in order: one record per write, each as written by hand', async () => {
    const events = orderedEvents();
    const batches: unknown[][] = [];
    for (let i = 0; i < events.length; i += 3) batches.push(events.slice(i, i + 3));
    // In order means one batch after the other.
    inOrder = [];
    for (const b of batches) await deliver('lifecycle-a', [b]);
    inOrder = await p.search({ term: { 'orchestrator.cluster.name': 'lifecycle-a' } });
    assert.equal(inOrder.length, 14, 'reads, built-in resources and RequestReceived stages make no record');
    for (const [suffix, want] of Object.entries(EXPECTED)) {
      const doc = inOrder.find(
        (d) => d._source.event.id.endsWith(suffix) && d._source.kubernetes.audit.objectRef.name === 'fraud-model',
      );
      assert.ok(doc, `record ${suffix}`);
      const s = doc._source;
      const c = s.crtrail.change;
      const label = `${suffix} ${want.action}`;
      assert.equal(s.event.action, want.action, label);
      assert.equal(s.event.outcome, want.outcome ?? 'success', label);
      assert.equal(c.kind, want.kind, label);
      assert.equal(c.baseline, want.baseline, label);
      assert.equal(c.dry_run, want.dry_run ?? false, label);
      assert.equal(c.patch_type, want.patch_type, label);
      if (want.actor) assert.equal(s.crtrail.actor.name, want.actor, label);
      if (want.ops) assert.deepEqual(c.ops, want.ops, label);
      if (want.paths) assert.deepEqual(c.paths, want.paths, label);
      if (want.server_mutations) assert.deepEqual(c.server_mutations, want.server_mutations, label);
      assert.deepEqual(c.paths, [...new Set(c.ops.map((o: { path: string }) => o.path))].sort(), label);
    }
    // Who and how bad: out-of-band changes of the Argo CD-managed object are drift; critical fields flagged.
    const bySuffix = (suffix: string) => inOrder.find((d) => d._source.event.id.endsWith(suffix))!._source.crtrail;
    const drift = Object.fromEntries(Object.keys(EXPECTED).map((k) => [k, bySuffix(k).change.drift]));
    assert.deepEqual(drift, {
      '001': false,
      '002': false,
      '003': false,
      '004': true,
      '005': true,
      '006': false,
      '007': false,
      '008': false,
      '009': false,
      '010': false,
      '011': true,
      '012': false,
    });
    assert.deepEqual(bySuffix('005').change.critical_paths, ['/spec/predictor/model/storageUri']);
    assert.equal(bySuffix('004').change.critical, false);
    assert.deepEqual(bySuffix('001').actor, {
      kind: 'gitops',
      name: 'system:serviceaccount:argocd:argocd-application-controller',
      tool: 'argocd',
      manager: 'argocd-application-controller',
    });
    assert.deepEqual(bySuffix('004').actor, {
      kind: 'human',
      name: 'alice@example.com',
      tool: 'kubectl-edit',
      manager: 'kubectl-edit',
    });
    assert.deepEqual(bySuffix('005').actor, {
      kind: 'human',
      name: 'carol@example.com',
      tool: 'kubectl-patch',
      manager: 'kubectl-patch',
      impersonator: 'ops-bot',
    });
    assert.equal(bySuffix('002').actor.kind, 'controller');
    assert.equal(
      inOrder.find((d) => d._source.event.id.endsWith('005'))!._source.kubernetes.audit.impersonatedUser.username,
      'carol@example.com',
    );
    const collection = inOrder.filter((d) => d._source.event.action === 'deletecollection');
    assert.deepEqual(collection.map((d) => d._source.kubernetes.audit.objectRef.name).sort(), [
      'churn-model',
      'ltv-model',
    ]);
    for (const d of collection) {
      assert.equal(d._source.crtrail.change.kind, 'delete');
      assert.ok(d._source.crtrail.change.paths.includes('/spec/predictor/model/storageUri'));
    }
    for (const d of inOrder) {
      for (const path of d._source.crtrail.change.paths) {
        assert.doesNotMatch(
          path,
          /^\/metadata\/(managedFields|resourceVersion|generation|uid)/,
          `spurious op in ${d._source.event.id}`,
        );
      }
    }
  });

  test('(b) shuffled as two HA apiservers deliver it, in small concurrent batches: identical records, no duplicate', async () => {
    for (const seed of [11, 29]) {
      const cluster = `lifecycle-b${seed}`;
      const shuffled = await deliver(cluster, haBatches(orderedEvents(), seed, 2));
      assert.equal(shuffled.length, 14);
      assert.equal(new Set(shuffled.map((d) => d._id)).size, 14);
      const key = (d: Doc) => `${d._source.event.id}/${d._source.kubernetes.audit.objectRef.name}`;
      const a = new Map(inOrder.map((d) => [key(d), comparable(d)]));
      for (const d of shuffled) assert.deepEqual(comparable(d), a.get(key(d)), `seed ${seed}: ${key(d)}`);
    }
  });

  test('(c) `crtrail baseline` imports kubectl output: the first audited change already has old values', async () => {
    const steps = lifecycle();
    const current = steps[2]!.events.at(-1)!.responseObject; // the object as stored after the status write
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [current] });
    const env = { CRTRAIL_INDEX_PREFIX: p.prefix, CRTRAIL_ES_URL: testEsUrl() };
    const run = await runCli(['baseline', '-', '--cluster', 'lifecycle-c'], env, list);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /imported 1 object/);
    const later = steps.slice(3, 5).flatMap((s) => s.events);
    const docs = await deliver('lifecycle-c', [later]);
    const edit = docs.find((d) => d._source.event.id.endsWith('004'))!;
    assert.equal(edit._source.crtrail.change.baseline, 'known');
    assert.deepEqual(edit._source.crtrail.change.ops, EXPECTED['004']!.ops);
    const bad = await runCli(['baseline', '-', '--cluster', 'x'], env, 'not json');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not JSON/);
  });
});
