import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { testEsUrl, uniquePrefix } from '@crtrail/testkit';
import { indexNames } from '@crtrail/store';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { runCli } from './helpers/cli.js';
import { eventList, postLifecycle } from './helpers/events.js';

function countFields(mapping: unknown): number {
  let n = 0;
  const walk = (props: Record<string, any> | undefined): void => {
    for (const v of Object.values(props ?? {})) {
      n++;
      walk(v.properties);
    }
  };
  walk((mapping as { properties?: Record<string, any> }).properties);
  return n;
}

describe('store: mapping and queries', () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline(uniquePrefix('store-query'));
  });
  after(async () => p?.close());

  test('1,000 custom resources with distinct field names leave the mapping\'s field count flat', async () => {
    const index = indexNames(p.prefix).initial;
    const before = countFields(Object.values(await p.es.indices.getMapping({ index }))[0]!.mappings);
    const items = Array.from({ length: 1000 }, (_, i) => ({
      level: 'RequestResponse',
      auditID: `distinct-${i}`,
      stage: 'ResponseComplete',
      requestURI: `/apis/g${i}.example.com/v1/namespaces/ns/things`,
      verb: 'create',
      user: { username: 'bob' },
      objectRef: { apiGroup: `g${i}.example.com`, apiVersion: 'v1', resource: 'things', namespace: 'ns', name: `t${i}` },
      responseStatus: { code: 201 },
      stageTimestamp: '2026-11-02T10:00:00.000000Z',
      requestObject: { apiVersion: `g${i}.example.com/v1`, kind: 'Thing', metadata: { name: `t${i}` }, spec: { [`field_${i}`]: { [`nested_${i}`]: i } } },
      responseObject: { apiVersion: `g${i}.example.com/v1`, kind: 'Thing', metadata: { name: `t${i}`, namespace: 'ns', uid: `u${i}`, resourceVersion: '1' }, spec: { [`field_${i}`]: { [`nested_${i}`]: i } } },
    }));
    for (let i = 0; i < items.length; i += 250) {
      const res = await fetch(`${p.url}/audit/distinct`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: eventList(items.slice(i, i + 250)) });
      assert.equal(res.status, 200);
    }
    await p.idle();
    assert.equal(await p.count({ term: { 'orchestrator.cluster.name': 'distinct' } }), 1000);
    const after = countFields(Object.values(await p.es.indices.getMapping({ index }))[0]!.mappings);
    assert.equal(after, before);
    // The values stay searchable: by path keyword and through the text form of the ops.
    assert.equal(await p.count({ term: { 'crtrail.change.paths': '/spec/field_517/nested_517' } }), 1);
    assert.equal(await p.count({ match_phrase: { 'crtrail.change.text': '/spec/field_517/nested_517' } }), 1);
  });

  test('`crtrail changes` prints one changed field per line, newest first, filtered per cluster and object', async () => {
    await postLifecycle(p.url, 'prod-eu');
    await postLifecycle(p.url, 'prod-us');
    await p.idle();
    const env = { CRTRAIL_INDEX_PREFIX: p.prefix, CRTRAIL_ES_URL: testEsUrl(), NO_COLOR: '1' };
    const run = await runCli(['changes', '--cluster', 'prod-eu', '--name', 'fraud-model', '--actor', 'alice@example.com'], env);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.deepEqual(lines, [
      '2026-11-02T09:00:11.040000Z prod-eu alice@example.com delete serving.kserve.io/inferenceservices ml/fraud-model /metadata/deletionTimestamp: ∅ → 2026-11-02T09:00:11Z',
      '2026-11-02T09:00:06.040000Z prod-eu alice@example.com patch serving.kserve.io/inferenceservices ml/fraud-model [dry-run] /spec/predictor/maxReplicas: 4 → 10',
      '2026-11-02T09:00:04.040000Z prod-eu alice@example.com patch serving.kserve.io/inferenceservices ml/fraud-model /spec/predictor/minReplicas: 1 → 3',
    ]);
    const json = await runCli(['changes', '--cluster', 'prod-us', '--json', '--limit', '3'], env);
    const docs = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(docs.length, 3);
    assert.ok(docs.every((d) => d.orchestrator.cluster.name === 'prod-us'));
    const none = await runCli(['changes', '--cluster', 'nowhere'], env);
    assert.equal(none.code, 0);
    assert.match(none.stderr, /no changes match/);
  });
});
