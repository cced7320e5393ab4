import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { uniquePrefix } from '@crtrail/testkit';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { eventList, postLifecycle, LIFECYCLE_RECORDS } from './helpers/events.js';
import { demoStory } from '../services/cli/src/demo-story.js';
import { kibanaSavedObjects, toNdjson, LENS_PANELS } from '../services/cli/src/kibana/saved-objects.js';
import type { LooseJson, StoredDoc } from './helpers/loose.js';

/**
 * The saved searches run as Kibana runs them: their Lucene query in a `query_string` query (with
 * `analyze_wildcard`, Kibana's default option) plus their filters, on the data view's pattern, over
 * records the real pipeline wrote. Each must find what its title says, and nothing else.
 */

interface Obj {
  type: string;
  id: string;
  attributes: LooseJson;
  references: Array<{ type: string; id: string; name: string }>;
}
type Doc = StoredDoc;

const DEMO_RECORDS = 6;

describe('Kibana saved searches on real records', () => {
  let p: Pipeline;
  let objects: Obj[];
  let all: Doc[];
  let pattern: string;

  before(async () => {
    p = await startPipeline(uniquePrefix('kibana'));
    // What `crtrail kibana setup` would import for this prefix, read back from the NDJSON it sends.
    objects = toNdjson(kibanaSavedObjects(p.prefix))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Obj);
    pattern = objects.find((o) => o.type === 'index-pattern')!.attributes.title;
    const res = await fetch(`${p.url}/audit/demo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: eventList(demoStory()),
    });
    assert.equal(res.status, 200, await res.text());
    await postLifecycle(p.url, 'lc');
    await p.idle();
    all = await p.search(undefined, 1000);
    assert.equal(all.length, DEMO_RECORDS + LIFECYCLE_RECORDS);
  });
  after(async () => p?.close());

  /** Runs a Lucene query (+ Kibana filters, if any) as Discover does, in the saved search's sort order. */
  async function run(
    query: string,
    filters: unknown[] = [],
    sort: [string, string] = ['@timestamp', 'desc'],
  ): Promise<Doc[]> {
    assert.deepEqual(filters, [], 'every condition is in the Lucene query');
    const res = await p.es.search({
      index: pattern,
      size: 1000,
      query: { bool: { must: [{ query_string: { query, analyze_wildcard: true } }], filter: [] } },
      sort: [{ [sort[0]]: sort[1] as 'asc' | 'desc' }, { 'event.id': 'asc' }],
    });
    return res.hits.hits as Doc[];
  }

  function search(key: string): { query: string; filters: unknown[]; sort: [string, string] } {
    const o = objects.find((x) => x.type === 'search' && x.id === `${p.prefix}-search-${key}`);
    assert.ok(o, `saved search ${key}`);
    const source = JSON.parse(o.attributes.kibanaSavedObjectMeta.searchSourceJSON);
    assert.equal(source.query.language, 'lucene');
    return { query: source.query.query, filters: source.filter ?? [], sort: o.attributes.sort[0] };
  }

  async function assertFinds(key: string, expected: (d: Doc) => boolean): Promise<Doc[]> {
    const s = search(key);
    const hits = await run(s.query, s.filters, s.sort);
    const want = all
      .filter(expected)
      .map((d) => d._id)
      .sort();
    assert.ok(want.length > 0, `the records hold something for "${key}" to find`);
    assert.deepEqual(hits.map((h) => h._id).sort(), want, `"${key}" (${s.query}) finds exactly its records`);
    return hits;
  }

  test('critical changes: every record flagged critical, and only those', async () => {
    const hits = await assertFinds('critical', (d) => d._source.crtrail.change.critical === true);
    assert.ok(
      hits.some(
        (h) =>
          h._source.crtrail.actor.name === 'alice@example.com' &&
          h._source.crtrail.change.critical_paths.includes('/spec/dnsNames/1'),
      ),
      'the hand edit of dnsNames',
    );
  });

  test('GitOps drift: the hand edit of the Flux-managed Certificate, and only drift', async () => {
    const hits = await assertFinds('drift', (d) => d._source.crtrail.change.drift === true);
    assert.ok(
      hits.some(
        (h) =>
          h._source.orchestrator.cluster.name === 'demo' &&
          h._source.kubernetes.audit.objectRef.name === 'payments-tls',
      ),
    );
  });

  test('failed and denied attempts: every answer >= 400 (the 403s), nothing allowed', async () => {
    const hits = await assertFinds('failed', (d) => d._source.kubernetes.audit.responseStatus.code >= 400);
    assert.deepEqual(
      hits.map((h) => [h._source.orchestrator.cluster.name, h._source.kubernetes.audit.responseStatus.code]).sort(),
      [
        ['demo', 403],
        ['lc', 403],
      ],
    );
  });

  test('changes by humans: successful non-dry-run writes of people, not controllers, GitOps or refused attempts', async () => {
    const hits = await assertFinds(
      'humans',
      (d) =>
        d._source.crtrail.actor.kind === 'human' &&
        d._source.event.outcome === 'success' &&
        d._source.crtrail.change.dry_run !== true,
    );
    for (const h of hits) assert.equal(h._source.crtrail.actor.kind, 'human');
    const names = new Set(hits.map((h) => h._source.crtrail.actor.name));
    assert.ok(
      names.has('alice@example.com') && names.has('bob@example.com') && names.has('carol@example.com'),
      [...names].join(', '),
    );
    assert.ok(!names.has('mallory@example.com') && !names.has('mallory'), 'denied attempts are not changes');
    assert.ok(
      all.some((d) => d._source.crtrail.change.dry_run === true && d._source.crtrail.actor.kind === 'human'),
      'the records hold a human dry run to leave out',
    );
  });

  test('deletes: delete and each deletecollection item, nothing else', async () => {
    const hits = await assertFinds(
      'deletes',
      (d) =>
        ['delete', 'deletecollection'].includes(d._source.event.action) &&
        d._source.event.outcome === 'success' &&
        d._source.crtrail.change.dry_run !== true,
    );
    assert.deepEqual(hits.map((h) => h._source.event.action).sort(), [
      'delete',
      'delete',
      'deletecollection',
      'deletecollection',
    ]);
  });

  test("one object's history: the data view's link on crtrail.object.key opens exactly that object's records, oldest first", async () => {
    // The saved search alone: every record of some object, ascending.
    const history = search('object-history');
    assert.deepEqual(history.sort, ['@timestamp', 'asc']);
    const every = await run(history.query, history.filters, history.sort);
    assert.equal(every.length, all.length);
    // The link: the URL format of crtrail.object.key, as Kibana renders it for a record's key.
    const dv = objects.find((o) => o.type === 'index-pattern')!;
    const template: string = JSON.parse(dv.attributes.fieldFormatMap)['crtrail.object.key'].params.urlTemplate;
    assert.ok(template.startsWith(`discover#/view/${p.prefix}-search-object-history?`), template);
    const identity = (d: Doc) => {
      const s = d._source;
      const r = s.kubernetes.audit.objectRef;
      return [s.orchestrator.cluster.name, r.apiGroup, r.resource, r.namespace ?? '', r.name].join('|');
    };
    const keys = [...new Set(all.map((d) => d._source.crtrail.object.key as string))];
    assert.ok(keys.includes(`demo/cert-manager.io/certificates/payments/payments-tls`), keys.join(', '));
    for (const key of keys) {
      const href = template.replace('{{value}}', encodeURIComponent(key));
      // Discover decodes the hash's query string, then reads `_a` as rison: the query is its quoted string.
      const a = new URLSearchParams(href.slice(href.indexOf('?') + 1)).get('_a')!;
      const m = /^\(query:\(language:lucene,query:'([^'!]*)'\)\)$/.exec(a);
      assert.ok(m, a);
      const hits = await run(m[1]!, [], history.sort);
      const one = all.find((d) => d._source.crtrail.object.key === key)!;
      const want = all.filter((d) => identity(d) === identity(one)).map((d) => d._id);
      assert.deepEqual(hits.map((h) => h._id).sort(), [...want].sort(), `${key}: exactly its records`);
      const times = hits.map((h) => Date.parse(h._source['@timestamp']));
      assert.deepEqual(
        times,
        [...times].sort((x, y) => x - y),
        'oldest first',
      );
    }
    const cert = await run(
      `crtrail.object.key:"demo/cert-manager.io/certificates/payments/payments-tls"`,
      [],
      history.sort,
    );
    assert.deepEqual(
      cert.map((h) => h._source.kubernetes.audit.verb),
      ['patch', 'update', 'patch'],
      'SSA create, status, hand edit',
    );
  });

  test('every field a saved search, the data view or a panel uses is mapped; panels aggregate only on aggregatable fields', async () => {
    const caps = (await p.es.fieldCaps({ index: pattern, fields: '*' })).fields;
    const mapped = (f: string): { type: string; searchable: boolean; aggregatable: boolean } => {
      const c = caps[f];
      assert.ok(c, `${f} is in the mapping`);
      const [type, cap] = Object.entries(c)[0]!;
      return { type, searchable: cap.searchable, aggregatable: cap.aggregatable };
    };
    const filterable = (f: string) => {
      const c = mapped(f);
      assert.ok(
        c.searchable && ['keyword', 'boolean', 'date', 'long', 'integer'].includes(c.type),
        `${f} can be filtered on exactly (${c.type})`,
      );
    };
    const queryFields = (q: string) =>
      [...q.matchAll(/([A-Za-z@_][\w.@]*):/g)].map((m) => m[1]!).filter((f) => f !== '_exists_');
    const dv = objects.find((o) => o.type === 'index-pattern')!;
    assert.equal(mapped(dv.attributes.timeFieldName).type, 'date');
    for (const f of Object.keys(JSON.parse(dv.attributes.fieldFormatMap))) filterable(f);
    for (const f of Object.keys(JSON.parse(dv.attributes.fieldAttrs))) mapped(f);
    let checked = 0;
    for (const s of objects.filter((o) => o.type === 'search')) {
      const { query } = JSON.parse(s.attributes.kibanaSavedObjectMeta.searchSourceJSON).query;
      for (const f of queryFields(query)) {
        filterable(f);
        checked++;
      }
      for (const c of s.attributes.columns as string[]) mapped(c);
      for (const [f] of s.attributes.sort as Array<[string]>) assert.ok(mapped(f).aggregatable, `${f} sortable`);
    }
    for (const l of objects.filter((o) => o.type === 'lens')) {
      for (const layer of Object.values(l.attributes.state.datasourceStates.formBased.layers) as Array<{
        columns: Record<string, { sourceField: string; isBucketed: boolean }>;
      }>) {
        for (const col of Object.values(layer.columns)) {
          if (col.sourceField === '___records___') continue;
          assert.ok(mapped(col.sourceField).aggregatable, `${l.id}: ${col.sourceField} is aggregatable`);
          checked++;
        }
      }
      for (const f of queryFields(l.attributes.state.query.query)) filterable(f);
    }
    assert.ok(checked >= LENS_PANELS.length + 6);
  });

  test('each chart panel aggregates the records into something to show', async () => {
    for (const l of objects.filter((o) => o.type === 'lens')) {
      const layer = Object.values(l.attributes.state.datasourceStates.formBased.layers)[0] as {
        columns: Record<string, { operationType: string; sourceField: string }>;
      };
      const terms = Object.values(layer.columns).filter((c) => c.operationType === 'terms');
      const q = l.attributes.state.query.query as string;
      for (const t of terms) {
        const res = await p.es.search({
          index: pattern,
          size: 0,
          query: q ? { query_string: { query: q } } : { match_all: {} },
          aggs: { t: { terms: { field: t.sourceField, size: 50 } } },
        });
        const buckets = (res.aggregations?.t as { buckets: Array<{ key: string; doc_count: number }> }).buckets;
        assert.ok(buckets.length > 0, `${l.id}: ${t.sourceField} has buckets`);
        if (t.sourceField === 'crtrail.object.key')
          assert.ok(
            buckets.every((b) => b.key.split('/').length === 5),
            'keys name cluster/group/resource/namespace/name',
          );
      }
    }
  });
});
