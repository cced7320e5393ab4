import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { kibanaSavedObjects, toNdjson, SAVED_SEARCHES } from '../src/kibana/saved-objects.js';

const BUNDLED = fileURLToPath(new URL('../../../kibana/crtrail-saved-objects.ndjson', import.meta.url));

/**
 * Kibana's attribute JSON (search sources, Lens states) as the bundled file holds it: loose on purpose,
 * walked by the assertions below, which fail on a wrong shape.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type KibanaJson = Record<string, any>;

interface Obj {
  type: string;
  id: string;
  attributes: KibanaJson;
  references: Array<{ type: string; id: string; name: string }>;
}

function parseNdjson(text: string): Obj[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line, i) => {
      const o = JSON.parse(line) as Obj;
      assert.equal(typeof o.type, 'string', `line ${i + 1}: type`);
      assert.equal(typeof o.id, 'string', `line ${i + 1}: id`);
      assert.equal(typeof o.attributes, 'object', `line ${i + 1}: attributes`);
      assert.ok(Array.isArray(o.references), `line ${i + 1}: references`);
      return o;
    });
}

test('the bundled NDJSON is what the source generates for the default prefix (npm run kibana:objects)', () => {
  assert.equal(
    readFileSync(BUNDLED, 'utf8'),
    toNdjson(kibanaSavedObjects('crtrail')),
    'kibana/crtrail-saved-objects.ndjson is stale: run npm run kibana:objects',
  );
});

test('every bundled object parses, has a unique id, and every reference resolves to an object of the file', () => {
  const objects = parseNdjson(readFileSync(BUNDLED, 'utf8'));
  const byKey = new Map(objects.map((o) => [`${o.type}:${o.id}`, o]));
  assert.equal(byKey.size, objects.length, 'type:id pairs are unique');
  for (const o of objects) {
    const names = new Set<string>();
    for (const r of o.references) {
      assert.ok(byKey.has(`${r.type}:${r.id}`), `${o.type} ${o.id}: reference ${r.name} -> ${r.type} ${r.id} resolves`);
      assert.ok(!names.has(r.name), `${o.type} ${o.id}: reference name ${r.name} is unique`);
      names.add(r.name);
    }
  }
  const types = objects.map((o) => o.type);
  assert.deepEqual([...new Set(types)].sort(), ['dashboard', 'index-pattern', 'lens', 'search']);

  const dv = objects.find((o) => o.type === 'index-pattern')!;
  assert.equal(dv.attributes.title, 'crtrail-changes*');
  assert.equal(dv.attributes.timeFieldName, '@timestamp');
  const formats = JSON.parse(dv.attributes.fieldFormatMap);
  assert.equal(formats['crtrail.object.key'].id, 'url');
  const popular = JSON.parse(dv.attributes.fieldAttrs);
  assert.ok(
    Object.values(popular as Record<string, { count: number }>).some((a) => a.count > 0),
    'popular fields',
  );
  JSON.parse(dv.attributes.runtimeFieldMap);

  const searches = objects.filter((o) => o.type === 'search');
  assert.equal(searches.length, SAVED_SEARCHES.length);
  for (const s of searches) {
    const source = JSON.parse(s.attributes.kibanaSavedObjectMeta.searchSourceJSON);
    assert.equal(source.query.language, 'lucene', `${s.id} is Lucene`);
    assert.ok(
      s.references.some((r) => r.name === source.indexRefName && r.type === 'index-pattern' && r.id === dv.id),
      `${s.id}: indexRefName resolves to the data view`,
    );
  }

  for (const l of objects.filter((o) => o.type === 'lens')) {
    for (const layerId of Object.keys(l.attributes.state.datasourceStates.formBased.layers)) {
      assert.ok(
        l.references.some((r) => r.name === `indexpattern-datasource-layer-${layerId}` && r.id === dv.id),
        `${l.id}: layer ${layerId} names its data view`,
      );
    }
  }

  const dash = objects.find((o) => o.type === 'dashboard')!;
  const panels = JSON.parse(dash.attributes.panelsJSON) as Array<{
    panelIndex: string;
    panelRefName: string;
    type: string;
  }>;
  assert.ok(panels.length >= 4, 'at least four panels');
  for (const p of panels) {
    const ref = dash.references.find((r) => r.name === `${p.panelIndex}:${p.panelRefName}`);
    assert.ok(ref, `panel ${p.panelIndex} has its reference`);
    assert.equal(ref.type, p.type);
  }
  JSON.parse(dash.attributes.optionsJSON);
});

// Attribute names Kibana 8's saved-object schemas accept per type (dashboard and data view schemas
// forbid unknown keys: an extra one fails the import).
const ALLOWED_ATTRIBUTES: Record<string, string[]> = {
  'index-pattern': [
    'title',
    'name',
    'timeFieldName',
    'fields',
    'fieldAttrs',
    'sourceFilters',
    'fieldFormatMap',
    'type',
    'typeMeta',
    'allowNoIndex',
    'runtimeFieldMap',
    'allowHidden',
  ],
  search: [
    'title',
    'sort',
    'columns',
    'description',
    'grid',
    'hideChart',
    'isTextBasedQuery',
    'usesAdHocDataView',
    'kibanaSavedObjectMeta',
    'viewMode',
    'hideAggregatedPreview',
    'rowHeight',
    'headerRowHeight',
    'hits',
    'timeRestore',
    'timeRange',
    'refreshInterval',
    'rowsPerPage',
    'sampleSize',
    'breakdownField',
  ],
  lens: ['title', 'description', 'visualizationType', 'state', 'uiStateJSON', 'visState', 'savedSearchRefName'],
  dashboard: [
    'title',
    'description',
    'kibanaSavedObjectMeta',
    'timeRestore',
    'timeFrom',
    'timeTo',
    'refreshInterval',
    'controlGroupInput',
    'panelsJSON',
    'optionsJSON',
    'hits',
    'version',
  ],
};

test("every object uses only attributes Kibana's schema for its type accepts, and each Lens state is consistent", () => {
  for (const o of parseNdjson(readFileSync(BUNDLED, 'utf8'))) {
    for (const k of Object.keys(o.attributes))
      assert.ok(ALLOWED_ATTRIBUTES[o.type]!.includes(k), `${o.type} ${o.id}: attribute ${k}`);
    assert.equal(typeof o.attributes.title, 'string');
    if (o.type !== 'lens') continue;
    const layers = o.attributes.state.datasourceStates.formBased.layers as Record<
      string,
      {
        columns: Record<string, { operationType: string; params?: { orderBy?: { columnId: string } } }>;
        columnOrder: string[];
      }
    >;
    for (const [layerId, layer] of Object.entries(layers)) {
      assert.deepEqual(
        [...layer.columnOrder].sort(),
        Object.keys(layer.columns).sort(),
        `${o.id}: columnOrder lists every column`,
      );
      for (const c of Object.values(layer.columns)) {
        if (c.operationType === 'terms')
          assert.ok(layer.columns[c.params?.orderBy?.columnId ?? ''], `${o.id}: terms ordered by an existing column`);
      }
      const vis = o.attributes.state.visualization;
      const used: string[] =
        o.attributes.visualizationType === 'lnsXY'
          ? vis.layers.flatMap(
              (l: { layerId: string; xAccessor?: string; splitAccessor?: string; accessors: string[] }) => (
                assert.equal(l.layerId, layerId),
                [l.xAccessor, l.splitAccessor, ...l.accessors].filter(Boolean)
              ),
            )
          : (assert.equal(vis.layerId, layerId), vis.columns.map((c: { columnId: string }) => c.columnId));
      for (const id of used) assert.ok(layer.columns[id], `${o.id}: visualization uses column ${id}, which exists`);
    }
  }
});

test('a non-default index prefix is substituted into the data view pattern, every id and every reference', () => {
  const objects = parseNdjson(toNdjson(kibanaSavedObjects('acme-audit')));
  assert.equal(objects.find((o) => o.type === 'index-pattern')!.attributes.title, 'acme-audit-changes*');
  for (const o of objects) {
    assert.ok(o.id.startsWith('acme-audit-'), o.id);
    for (const r of o.references) assert.ok(r.id.startsWith('acme-audit-'), `${o.id} -> ${r.id}`);
  }
  const formats = JSON.parse(objects[0]!.attributes.fieldFormatMap);
  assert.match(
    formats['crtrail.object.key'].params.urlTemplate,
    /^discover#\/view\/acme-audit-search-object-history\?/,
  );
  assert.ok(!toNdjson(kibanaSavedObjects('acme-audit')).includes('crtrail-'), 'nothing names the default prefix');
});
