import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { testEs, testEsUrl, uniquePrefix } from '@crtrail/testkit';
import { deletePrefix, indexNames, installTemplates } from '@crtrail/store';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { runCli } from './helpers/cli.js';
import { records } from '../services/cli/src/ops/changes.js';
import { showValue } from '../services/cli/src/print/change-lines.js';
import { eventList, postLifecycle } from './helpers/events.js';

/** A node of an Elasticsearch mapping, as far as counting its fields goes. */
interface MappingProperty {
  properties?: Record<string, MappingProperty>;
}

function countFields(mapping: unknown): number {
  let n = 0;
  const walk = (props: Record<string, MappingProperty> | undefined): void => {
    for (const v of Object.values(props ?? {})) {
      n++;
      walk(v.properties);
    }
  };
  walk((mapping as MappingProperty).properties);
  return n;
}

test('values on screen: bare strings, quoted when they would mislead, short hashes', () => {
  assert.equal(showValue('web'), 'web');
  assert.equal(showValue(''), '""');
  assert.equal(showValue(' padded'), '" padded"');
  assert.equal(showValue('42'), '"42"', 'a string that reads as a number');
  assert.equal(showValue(42), '42');
  assert.equal(showValue(null), 'null');
  assert.equal(showValue({ a: 1 }), '{"a":1}');
  const hash = `sha256:${'ab'.repeat(32)}`;
  assert.equal(showValue(hash), `sha256:${'ab'.repeat(4)}…`);
  assert.equal(showValue({ password: hash }), `{"password":"sha256:${'ab'.repeat(4)}…"}`, 'hashes inside values too');
  assert.equal(showValue(hash, true), hash);
  assert.equal(showValue('x'.repeat(100)).length, 81);
  assert.equal(showValue('x'.repeat(100), true).length, 100);
});

test('the meta index has the records’ replica rule, new or made before with the default of one replica', async () => {
  const es = testEs();
  const prefix = uniquePrefix('meta-replicas');
  try {
    const { meta } = indexNames(prefix);
    // As a first write made it before: Elasticsearch's default settings.
    await es.indices.create({ index: meta, settings: { number_of_replicas: 1 } });
    await installTemplates(es, prefix);
    const settings = await es.indices.getSettings({ index: meta });
    assert.equal(settings[meta]!.settings!.index!.auto_expand_replicas, '0-1');
    const fresh = uniquePrefix('meta-replicas');
    try {
      await installTemplates(es, fresh);
      const created = await es.indices.getSettings({ index: indexNames(fresh).meta });
      assert.equal(created[indexNames(fresh).meta]!.settings!.index!.auto_expand_replicas, '0-1');
      assert.equal(created[indexNames(fresh).meta]!.settings!.index!.number_of_shards, '1');
    } finally {
      await deletePrefix(es, fresh);
    }
  } finally {
    await deletePrefix(es, prefix);
    await es.close();
  }
});

describe('store: mapping and queries', () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline(uniquePrefix('store-query'));
  });
  after(async () => p?.close());

  test("1,000 custom resources with distinct field names leave the mapping's field count flat", async () => {
    const index = indexNames(p.prefix).initial;
    const before = countFields(Object.values(await p.es.indices.getMapping({ index }))[0]!.mappings);
    const items = Array.from({ length: 1000 }, (_, i) => ({
      level: 'RequestResponse',
      auditID: `distinct-${i}`,
      stage: 'ResponseComplete',
      requestURI: `/apis/g${i}.example.com/v1/namespaces/ns/things`,
      verb: 'create',
      user: { username: 'bob' },
      objectRef: {
        apiGroup: `g${i}.example.com`,
        apiVersion: 'v1',
        resource: 'things',
        namespace: 'ns',
        name: `t${i}`,
      },
      responseStatus: { code: 201 },
      stageTimestamp: '2026-11-02T10:00:00.000000Z',
      requestObject: {
        apiVersion: `g${i}.example.com/v1`,
        kind: 'Thing',
        metadata: { name: `t${i}` },
        spec: { [`field_${i}`]: { [`nested_${i}`]: i } },
      },
      responseObject: {
        apiVersion: `g${i}.example.com/v1`,
        kind: 'Thing',
        metadata: { name: `t${i}`, namespace: 'ns', uid: `u${i}`, resourceVersion: '1' },
        spec: { [`field_${i}`]: { [`nested_${i}`]: i } },
      },
    }));
    for (let i = 0; i < items.length; i += 250) {
      const res = await fetch(`${p.url}/audit/distinct`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: eventList(items.slice(i, i + 250)),
      });
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

  test('`crtrail changes`: a header line per write, an indented line per field, newest first, filtered per cluster and object', async () => {
    await postLifecycle(p.url, 'prod-eu');
    await postLifecycle(p.url, 'prod-us');
    await p.idle();
    const env = { CRTRAIL_INDEX_PREFIX: p.prefix, CRTRAIL_ES_URL: testEsUrl(), NO_COLOR: '1' };
    const run = await runCli(
      ['changes', '--cluster', 'prod-eu', '--name', 'fraud-model', '--actor', 'alice@example.com'],
      env,
    );
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => l.replace(/ {2}id \S+$/, '  id <id>'));
    assert.deepEqual(lines, [
      '2026-11-02T09:00:11.040000Z  prod-eu  alice@example.com (human, kubectl)  delete  serving.kserve.io/inferenceservices  ml/fraud-model  metadata [drift]  id <id>',
      '    + /metadata/deletionTimestamp: 2026-11-02T09:00:11Z',
      '2026-11-02T09:00:06.040000Z  prod-eu  alice@example.com (human, kubectl-patch)  patch  serving.kserve.io/inferenceservices  ml/fraud-model  spec [dry-run]  id <id>',
      '    ~ /spec/predictor/maxReplicas: 4 → 10',
      '2026-11-02T09:00:04.040000Z  prod-eu  alice@example.com (human, kubectl-edit)  patch  serving.kserve.io/inferenceservices  ml/fraud-model  spec [drift]  id <id>',
      '    ~ /spec/predictor/minReplicas: 1 → 3',
    ]);
    // The id printed is the record's _id: it can be looked up.
    const id = /id (\S+)$/.exec(run.stdout.split('\n')[0]!)![1]!;
    assert.equal(await p.count({ ids: { values: [id] } }), 1);
    const json = await runCli(['changes', '--cluster', 'prod-us', '--json', '--limit', '3'], env);
    const docs = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(docs.length, 3);
    assert.ok(docs.every((d) => d.orchestrator.cluster.name === 'prod-us'));
    const total = await p.count({ term: { 'orchestrator.cluster.name': 'prod-us' } });
    assert.ok(total > 3);
    assert.match(json.stderr, new RegExp(`showing 3 of ${total} records \\(--limit N or --all for more\\)`));
    const none = await runCli(['changes', '--cluster', 'nowhere'], env);
    assert.equal(none.code, 0);
    assert.match(none.stderr, /no changes match/);
  });

  test('`crtrail changes` answers "who changed field X": path (dot or pointer), verb, failed, prefixes, timeline, paging', async () => {
    const env = { CRTRAIL_INDEX_PREFIX: p.prefix, CRTRAIL_ES_URL: testEsUrl(), NO_COLOR: '1' };
    const json = async (...args: string[]) => {
      const r = await runCli(['changes', '--cluster', 'prod-eu', '--json', '--all', ...args], env);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim() === ''
        ? []
        : r.stdout
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l));
    };
    const field = '/spec/predictor/minReplicas';
    const byPointer = await json('--path', field);
    const byDots = await json('--path', 'spec.predictor.minReplicas');
    assert.ok(byPointer.length > 0);
    assert.deepEqual(
      byDots.map((d) => d._id),
      byPointer.map((d) => d._id),
    );
    const asFormat = await runCli(
      ['changes', '--cluster', 'prod-eu', '--format', 'json', '--all', '--path', field],
      env,
    );
    assert.deepEqual(
      asFormat.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)._id),
      byPointer.map((d) => d._id),
      '--format json is --json',
    );
    assert.equal(
      byPointer.length,
      await p.count({
        bool: {
          filter: [{ term: { 'orchestrator.cluster.name': 'prod-eu' } }, { term: { 'crtrail.change.paths': field } }],
        },
      }),
    );
    // A parent path finds the changes under it.
    const under = await json('--path', 'spec.predictor');
    assert.ok(
      under.length >= byPointer.length &&
        under.every((d) => d.crtrail.change.paths.some((x: string) => x.startsWith('/spec/predictor/'))),
    );
    const patches = await json('--verb', 'patch');
    assert.ok(patches.length > 0 && patches.every((d) => d.event.action === 'patch'));
    const failed = await json('--failed');
    assert.ok(failed.length > 0 && failed.every((d) => d.event.outcome === 'failure'));
    assert.deepEqual(
      (await json('--actor', 'ALICE')).map((d) => d._id),
      (await json('--actor', 'alice@example.com')).map((d) => d._id),
      'actor: case-insensitive prefix',
    );
    assert.ok(
      (await json('--name', 'fraud')).some((d) => d.kubernetes.audit.objectRef.name === 'fraud-model'),
      'name: prefix',
    );
    assert.ok((await json('--kind', 'inferenceservice')).length > 0, 'kind: case-insensitive');
    const timeline = await runCli(['changes', '--cluster', 'prod-eu', '--name', 'fraud-model', '--timeline'], env);
    const times = timeline.stdout
      .split('\n')
      .filter((l) => /^\d{4}-/.test(l))
      .map((l) => l.split(' ')[0]!);
    assert.ok(times.length > 2);
    assert.deepEqual(times, [...times].sort(), 'oldest first');
    // Paging with search_after: pages of 2 give the same records, in the same order, as one search.
    const all = await json();
    assert.equal(all.length, await p.count({ term: { 'orchestrator.cluster.name': 'prod-eu' } }));
    assert.equal(new Set(all.map((d) => d._id)).size, all.length);
    const paged: string[] = [];
    let total = 0;
    const query = { term: { 'orchestrator.cluster.name': 'prod-eu' } };
    for await (const hit of records(
      p.es,
      indexNames(p.prefix).alias,
      query,
      'desc',
      Number.MAX_SAFE_INTEGER,
      (n) => (total = n),
      2,
    ))
      paged.push(hit._id!);
    assert.equal(total, all.length);
    assert.deepEqual(
      paged,
      all.map((d) => d._id),
    );
    const badTime = await runCli(['changes', '--since', 'yesterday'], env);
    assert.equal(badTime.code, 1);
    assert.match(badTime.stderr, /--since.*expected an ISO time/);
    const noName = await runCli(['changes', '--timeline'], env);
    assert.equal(noName.code, 1);
    assert.match(noName.stderr, /--timeline needs --name/);
  });
});
