import { indexNames } from '@crtrail/store';

/**
 * The Kibana saved objects crtrail ships: a data view on the records, Lucene saved searches and a
 * dashboard of Lens panels, in the Kibana 8 export format (what `POST /api/saved_objects/_import`
 * takes). Everything is derived from the index prefix, so a second crtrail on the same Kibana
 * (another `CRTRAIL_INDEX_PREFIX`) gets objects of its own instead of overwriting the first one's.
 * `kibana/crtrail-saved-objects.ndjson` is this module's output for the default prefix
 * (`npm run kibana:objects` writes it; a test checks it is up to date).
 */

export interface SavedObjectReference {
  type: string;
  id: string;
  name: string;
}

export interface SavedObject {
  type: string;
  id: string;
  attributes: Record<string, unknown>;
  references: SavedObjectReference[];
  /** Since 8.8, the version of Kibana's own transforms the object has seen; 8.8.0 is the current one. */
  coreMigrationVersion: string;
  /** The version of the type's format the object is written in: Kibana migrates it forward on import. */
  typeMigrationVersion: string;
  managed: boolean;
}

/** A saved search as the tests and the import report need it. */
export interface SavedSearchSpec {
  /** Suffix of the object id (`<prefix>-search-<key>`). */
  key: string;
  title: string;
  description: string;
  /** Lucene, as Kibana sends it to Elasticsearch in a `query_string` query. */
  query: string;
  sort: [string, 'asc' | 'desc'];
}

/** Kibana 8.8 is the first to write `coreMigrationVersion: 8.8.0` and read the formats below. */
export const MIN_KIBANA = { major: 8, minor: 8 } as const;
const CORE = '8.8.0';

/** `cluster/group/resource/namespace/name` of a record's object: its URL format links to the object's history. */
export const OBJECT_KEY_FIELD = 'crtrail.object.key';

/** The saved searches, in the order Kibana lists them. */
export const SAVED_SEARCHES: readonly SavedSearchSpec[] = [
  {
    key: 'critical',
    title: 'crtrail: critical changes',
    description: 'Writes that touched a field the critical rules name (crtrail.change.critical_paths says which).',
    query: 'crtrail.change.critical:true',
    sort: ['@timestamp', 'desc'],
  },
  {
    key: 'drift',
    title: 'crtrail: GitOps drift',
    description: 'Changes of GitOps-managed objects by someone other than their GitOps manager (Argo CD, Flux).',
    query: 'crtrail.change.drift:true',
    sort: ['@timestamp', 'desc'],
  },
  {
    key: 'failed',
    title: 'crtrail: failed and denied attempts',
    description: 'Writes the apiserver refused (responseStatus.code >= 400): 403 denied by RBAC or admission, 409 conflicts, 422 invalid objects.',
    query: 'event.outcome:failure',
    sort: ['@timestamp', 'desc'],
  },
  {
    key: 'humans',
    title: 'crtrail: changes by humans',
    description: "Successful writes by people (not controllers, GitOps or service accounts), dry runs left out. Their refused attempts are in 'failed and denied attempts'.",
    query: 'crtrail.actor.kind:human AND event.outcome:success AND NOT crtrail.change.dry_run:true',
    sort: ['@timestamp', 'desc'],
  },
  {
    key: 'deletes',
    title: 'crtrail: deletes',
    description: 'Objects deleted (delete, and each object of a deletecollection); refused deletes and dry runs left out.',
    query: 'event.action:(delete OR deletecollection) AND event.outcome:success AND NOT crtrail.change.dry_run:true',
    sort: ['@timestamp', 'desc'],
  },
  {
    key: 'object-history',
    title: "crtrail: one object's history",
    description:
      "Every record of an object, oldest first. Open it from a record's crtrail.object.key link (that fills in the object), or " +
      'put the object in the query: crtrail.object.key:"prod/argoproj.io/applications/argocd/checkout" (cluster/group/resource/namespace/name; namespace empty for a cluster-scoped object).',
    query: 'crtrail.object.key:*',
    sort: ['@timestamp', 'asc'],
  },
];

const SEARCH_COLUMNS = [
  'orchestrator.cluster.name',
  'crtrail.actor.name',
  'crtrail.actor.kind',
  'event.action',
  'crtrail.object.kind',
  'kubernetes.audit.objectRef.namespace',
  'kubernetes.audit.objectRef.name',
  'crtrail.change.paths',
  'kubernetes.audit.responseStatus.code',
  OBJECT_KEY_FIELD,
];

/** Fields Kibana lists first in Discover's sidebar (the data view's popularity counts). */
const POPULAR_FIELDS = [
  OBJECT_KEY_FIELD,
  'crtrail.actor.name',
  'crtrail.actor.kind',
  'kubernetes.audit.objectRef.name',
  'kubernetes.audit.objectRef.namespace',
  'crtrail.object.kind',
  'crtrail.change.paths',
  'crtrail.change.critical',
  'crtrail.change.drift',
  'event.action',
  'event.outcome',
  'orchestrator.cluster.name',
];

export interface KibanaIds {
  dataView: string;
  search: (key: string) => string;
  lens: (key: string) => string;
  dashboard: string;
}

export function kibanaIds(prefix: string): KibanaIds {
  return {
    dataView: `${prefix}-changes`,
    search: (key) => `${prefix}-search-${key}`,
    lens: (key) => `${prefix}-lens-${key}`,
    dashboard: `${prefix}-dashboard`,
  };
}

/**
 * Discover at the "one object's history" search, its query narrowed to the object. The key goes into
 * a rison string, where only `'` and `!` would need escaping, and no part of a key can hold either.
 * Relative and without a leading slash: Kibana's URL format puts its base path (the space's
 * included) and `/app/` in front, so the link works in whatever space the objects were imported to.
 */
export function historyUrlTemplate(ids: KibanaIds): string {
  return `discover#/view/${ids.search('object-history')}?_g=(time:(from:now-1y,to:now))&_a=(query:(language:lucene,query:'${OBJECT_KEY_FIELD}:"{{value}}"'))`;
}

function dataView(prefix: string, ids: KibanaIds): SavedObject {
  const fieldAttrs: Record<string, { count?: number; customLabel?: string }> = {};
  POPULAR_FIELDS.forEach((f, i) => (fieldAttrs[f] = { count: POPULAR_FIELDS.length - i }));
  return {
    type: 'index-pattern',
    id: ids.dataView,
    attributes: {
      title: `${indexNames(prefix).alias}*`,
      name: `crtrail changes (${prefix})`,
      timeFieldName: '@timestamp',
      // Kibana reads the field list from Elasticsearch; only what it cannot know is stored.
      fields: '[]',
      fieldAttrs: JSON.stringify(fieldAttrs),
      fieldFormatMap: JSON.stringify({
        [OBJECT_KEY_FIELD]: { id: 'url', params: { type: 'a', urlTemplate: historyUrlTemplate(ids), labelTemplate: '{{value}}', openLinkInCurrentTab: true } },
      }),
      runtimeFieldMap: '{}',
      sourceFilters: '[]',
      typeMeta: '{}',
      allowNoIndex: true,
    },
    references: [],
    coreMigrationVersion: CORE,
    typeMigrationVersion: '8.0.0',
    managed: false,
  };
}

const INDEX_REF = 'kibanaSavedObjectMeta.searchSourceJSON.index';

function savedSearch(spec: SavedSearchSpec, ids: KibanaIds): SavedObject {
  return {
    type: 'search',
    id: ids.search(spec.key),
    attributes: {
      title: spec.title,
      description: spec.description,
      columns: SEARCH_COLUMNS,
      sort: [spec.sort],
      grid: {},
      hideChart: false,
      isTextBasedQuery: false,
      kibanaSavedObjectMeta: {
        searchSourceJSON: JSON.stringify({ query: { query: spec.query, language: 'lucene' }, highlightAll: true, filter: [], indexRefName: INDEX_REF }),
      },
    },
    references: [{ type: 'index-pattern', id: ids.dataView, name: INDEX_REF }],
    coreMigrationVersion: CORE,
    typeMigrationVersion: '8.0.0',
    managed: false,
  };
}

/** One Lens column of the form-based datasource. */
type Column = Record<string, unknown> & { label: string; dataType: string; operationType: string; sourceField: string; isBucketed: boolean };

const countColumn = (label: string): Column => ({ label, dataType: 'number', operationType: 'count', sourceField: '___records___', isBucketed: false, scale: 'ratio', customLabel: true, params: { emptyAsNull: true } });

const termsColumn = (label: string, field: string, size: number, orderBy: string, otherBucket = false): Column => ({
  label,
  dataType: 'string',
  operationType: 'terms',
  sourceField: field,
  isBucketed: true,
  scale: 'ordinal',
  customLabel: true,
  params: { size, orderBy: { type: 'column', columnId: orderBy }, orderDirection: 'desc', otherBucket, missingBucket: false, parentFormat: { id: 'terms' } },
});

const LAYER = 'layer1';

interface LensSpec {
  key: string;
  title: string;
  description: string;
  visualizationType: 'lnsXY' | 'lnsDatatable';
  columns: Record<string, Column>;
  visualization: Record<string, unknown>;
  /** Lucene query of the panel itself (on top of the dashboard's). */
  query: string;
}

const xyDefaults = {
  legend: { isVisible: true, position: 'right' },
  valueLabels: 'hide',
  fittingFunction: 'None',
  axisTitlesVisibilitySettings: { x: false, yLeft: true, yRight: true },
  tickLabelsVisibilitySettings: { x: true, yLeft: true, yRight: true },
  gridlinesVisibilitySettings: { x: true, yLeft: true, yRight: true },
};

/** The dashboard's charts, as Lens visualizations. Exported for the mapping test. */
export const LENS_PANELS: readonly LensSpec[] = [
  {
    key: 'changes-over-time',
    title: 'Changes over time by actor kind',
    description: 'Records per interval, stacked by crtrail.actor.kind (human, gitops, controller, serviceaccount, system, unknown).',
    visualizationType: 'lnsXY',
    query: '',
    columns: {
      time: { label: '@timestamp', dataType: 'date', operationType: 'date_histogram', sourceField: '@timestamp', isBucketed: true, scale: 'interval', params: { interval: 'auto', includeEmptyRows: true, dropPartials: false } },
      kind: termsColumn('Actor kind', 'crtrail.actor.kind', 6, 'count', true),
      count: countColumn('Changes'),
    },
    visualization: {
      ...xyDefaults,
      preferredSeriesType: 'bar_stacked',
      layers: [{ layerId: LAYER, layerType: 'data', seriesType: 'bar_stacked', xAccessor: 'time', splitAccessor: 'kind', accessors: ['count'] }],
    },
  },
  {
    key: 'top-actors',
    title: 'Top actors',
    description: 'Who wrote most (crtrail.actor.name: the impersonated user when there is one).',
    visualizationType: 'lnsXY',
    query: '',
    columns: {
      actor: termsColumn('Actor', 'crtrail.actor.name', 10, 'count', false),
      count: countColumn('Writes'),
    },
    visualization: {
      ...xyDefaults,
      preferredSeriesType: 'bar_horizontal',
      valueLabels: 'show',
      layers: [{ layerId: LAYER, layerType: 'data', seriesType: 'bar_horizontal', xAccessor: 'actor', accessors: ['count'] }],
    },
  },
  {
    key: 'most-changed',
    title: 'Most-changed objects',
    description: 'Objects with the most successful writes, by crtrail.object.key (cluster/group/resource/namespace/name).',
    visualizationType: 'lnsDatatable',
    query: 'event.outcome:success',
    columns: {
      object: termsColumn('Object (cluster/group/resource/namespace/name)', OBJECT_KEY_FIELD, 20, 'count'),
      count: countColumn('Changes'),
    },
    visualization: {
      layerId: LAYER,
      layerType: 'data',
      columns: [{ columnId: 'object' }, { columnId: 'count' }],
      sorting: { columnId: 'count', direction: 'desc' },
    },
  },
];

function lens(spec: LensSpec, ids: KibanaIds): SavedObject {
  return {
    type: 'lens',
    id: ids.lens(spec.key),
    attributes: {
      title: spec.title,
      description: spec.description,
      visualizationType: spec.visualizationType,
      state: {
        datasourceStates: { formBased: { layers: { [LAYER]: { columns: spec.columns, columnOrder: Object.keys(spec.columns), incompleteColumns: {} } } } },
        visualization: spec.visualization,
        query: { query: spec.query, language: 'lucene' },
        filters: [],
        internalReferences: [],
        adHocDataViews: {},
      },
    },
    references: [{ type: 'index-pattern', id: ids.dataView, name: `indexpattern-datasource-layer-${LAYER}` }],
    coreMigrationVersion: CORE,
    // The form-based datasource (formerly `indexpattern`) is the 8.6 format.
    typeMigrationVersion: '8.6.0',
    managed: false,
  };
}

/** Dashboard panels: [panel type, saved object id, title, x, y, w, h]. */
function dashboard(ids: KibanaIds): SavedObject {
  const layout: Array<[string, string, string, number, number, number, number]> = [
    ['lens', ids.lens('changes-over-time'), 'Changes over time by actor kind', 0, 0, 32, 14],
    ['lens', ids.lens('top-actors'), 'Top actors', 32, 0, 16, 14],
    ['search', ids.search('critical'), 'Critical changes', 0, 14, 48, 14],
    ['search', ids.search('failed'), 'Denied and failed attempts', 0, 28, 24, 14],
    ['lens', ids.lens('most-changed'), 'Most-changed objects', 24, 28, 24, 14],
  ];
  const panels = layout.map(([type, , title, x, y, w, h], n) => {
    const i = String(n + 1);
    return { version: CORE, type, gridData: { x, y, w, h, i }, panelIndex: i, embeddableConfig: { enhancements: {} }, panelRefName: `panel_${i}`, title };
  });
  return {
    type: 'dashboard',
    id: ids.dashboard,
    attributes: {
      title: 'crtrail: custom-resource changes',
      description: 'Who changed which custom resource, when, and was it allowed: changes by actor kind, top actors, critical changes, denied attempts, most-changed objects.',
      panelsJSON: JSON.stringify(panels),
      optionsJSON: JSON.stringify({ useMargins: true, syncColors: false, syncCursor: true, syncTooltips: false, hidePanelTitles: false }),
      timeRestore: true,
      timeFrom: 'now-24h',
      timeTo: 'now',
      refreshInterval: { pause: true, value: 60_000 },
      version: 1,
      kibanaSavedObjectMeta: { searchSourceJSON: JSON.stringify({ query: { query: '', language: 'lucene' }, filter: [] }) },
    },
    // By-reference panels: Kibana names each `<panelIndex>:panel_<panelIndex>`.
    references: layout.map(([type, id], n) => ({ type, id, name: `${n + 1}:panel_${n + 1}` })),
    coreMigrationVersion: CORE,
    typeMigrationVersion: '8.7.0',
    managed: false,
  };
}

/** Every saved object for the index prefix, referenced objects before those referring to them. */
export function kibanaSavedObjects(prefix: string): SavedObject[] {
  const ids = kibanaIds(prefix);
  return [dataView(prefix, ids), ...SAVED_SEARCHES.map((s) => savedSearch(s, ids)), ...LENS_PANELS.map((l) => lens(l, ids)), dashboard(ids)];
}

/** The import file: one object per line, as Kibana's export writes it. */
export function toNdjson(objects: readonly SavedObject[]): string {
  return objects.map((o) => JSON.stringify(o)).join('\n') + '\n';
}
