import { shorten } from '@crtrail/audit';
import type { AlertOp, RecordFacts } from './facts.js';
import type { AlertRule } from './rules.js';

/** One changed field as an alert shows it; a value longer than {@link MAX_VALUE_CHARS} of JSON is cut (`truncated`). */
export interface AlertChange {
  op: string;
  path: string;
  old?: unknown;
  new?: unknown;
  truncated?: true;
}

/**
 * The payload of one alert: everything the reader needs without opening anything else. Values are the
 * stored ones, so redacted fields show their `sha256:` hash.
 */
export interface Alert {
  /** The record's `_id`: the deduplication key receivers can rely on. */
  record_id: string;
  cluster: string;
  time: string;
  rules: Array<{ name: string; description: string }>;
  summary: string;
  object: RecordFacts['object'];
  actor: RecordFacts['actor'];
  verb: string;
  outcome: RecordFacts['outcome'];
  status_code?: number | undefined;
  change: {
    kind: string;
    critical: boolean;
    drift: boolean;
    critical_paths: string[];
    /** The critical paths' changes when any, else every change (at most {@link MAX_CHANGES}). */
    ops: AlertChange[];
    /** How many changes the record has in all. */
    ops_total: number;
  };
  links: { record?: string; timeline?: string };
}

/** One message to a sink: an alert, or the latest of several about one object within the group window. */
export interface AlertMessage {
  alert: Alert;
  /** Records this message stands for (1, or more for a grouped message). */
  count: number;
  record_ids: string[];
  /** Set on a grouped message: the window (seconds) the count covers. */
  window_seconds?: number;
}

/** Longest JSON of one old/new value an alert carries (a whole `spec` replaced would not fit a Slack block). */
export const MAX_VALUE_CHARS = 1_000;
/** Most changes one alert lists (`ops_total` tells how many there were). */
export const MAX_CHANGES = 50;

function clip(value: unknown): { value: unknown; cut: boolean } {
  if (value === undefined) return { value, cut: false };
  const json = JSON.stringify(value);
  return json.length > MAX_VALUE_CHARS ? { value: shorten(json, MAX_VALUE_CHARS), cut: true } : { value, cut: false };
}

function change(o: AlertOp): AlertChange {
  const old = clip(o.old);
  const next = clip(o.new);
  return {
    op: o.op,
    path: o.path,
    ...('old' in o ? { old: old.value } : {}),
    ...('new' in o ? { new: next.value } : {}),
    ...(old.cut || next.cut ? { truncated: true as const } : {}),
  };
}

/** `group/Kind ns/name` as people read it (the resource when the kind is unknown). */
export function objectLabel(f: Pick<RecordFacts, 'object'>): string {
  const o = f.object;
  const type = `${o.group ? `${o.group}/` : ''}${o.kind ?? o.resource ?? '?'}`;
  return `${type} ${o.namespace ? `${o.namespace}/` : ''}${o.name ?? '?'}`;
}

/** Escapes a value for a KQL (or Lucene) quoted string. */
const kql = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
/** A rison string (Kibana's URL state encoding): `'` and `!` are escaped with `!`. */
const rison = (s: string): string => `'${s.replace(/[!']/g, (c) => `!${c}`)}'`;

function discover(
  base: string,
  state: {
    query: string;
    language: 'kuery' | 'lucene';
    from: string;
    to: string;
    dataView?: string;
    savedSearch?: string;
  },
): string {
  const g = `(time:(from:${rison(state.from)},to:${rison(state.to)}))`;
  const a = `(${state.dataView ? `index:${rison(state.dataView)},` : ''}query:(language:${state.language},query:${rison(state.query)}))`;
  const view = state.savedSearch ? `view/${encodeURIComponent(state.savedSearch)}` : '';
  return `${base.replace(/\/+$/, '')}/app/discover#/${view}?_g=${encodeURIComponent(g)}&_a=${encodeURIComponent(a)}`;
}

/**
 * Kibana Discover links: the record (a query on its `_id`, an hour either side of it) and the object's
 * timeline. With the index prefix, they open the saved objects `crtrail kibana setup` imports (the data
 * view `<prefix>-changes`, the saved search `<prefix>-search-object-history` on `crtrail.object.key`);
 * without, Discover's default data view with a query on the object's fields.
 */
export function kibanaLinks(f: RecordFacts, kibanaUrl: string | undefined, indexPrefix?: string): Alert['links'] {
  if (!kibanaUrl) return {};
  const at = Date.parse(f.time);
  const from = Number.isNaN(at) ? 'now-1d' : new Date(at - 3_600_000).toISOString();
  const to = Number.isNaN(at) ? 'now' : new Date(at + 3_600_000).toISOString();
  const dataView = indexPrefix !== undefined ? `${indexPrefix}-changes` : undefined;
  const record = discover(kibanaUrl, {
    query: `_id:${kql(f.recordId)}`,
    language: 'kuery',
    from,
    to,
    ...(dataView ? { dataView } : {}),
  });
  if (indexPrefix !== undefined && f.object.key) {
    const timeline = discover(kibanaUrl, {
      query: `crtrail.object.key:${kql(f.object.key)}`,
      language: 'lucene',
      from: 'now-1y',
      to: 'now',
      savedSearch: `${indexPrefix}-search-object-history`,
    });
    return { record, timeline };
  }
  const object = [
    `orchestrator.cluster.name:${kql(f.cluster)}`,
    `crtrail.object.group:${kql(f.object.group)}`,
    ...(f.object.resource ? [`crtrail.object.resource:${kql(f.object.resource)}`] : []),
    ...(f.object.namespace ? [`crtrail.object.namespace:${kql(f.object.namespace)}`] : []),
    ...(f.object.name ? [`crtrail.object.name:${kql(f.object.name)}`] : []),
  ].join(' and ');
  return {
    record,
    timeline: discover(kibanaUrl, {
      query: object,
      language: 'kuery',
      from: 'now-1y',
      to: 'now',
      ...(dataView ? { dataView } : {}),
    }),
  };
}

const PAST: Record<string, string> = {
  create: 'created',
  update: 'updated',
  patch: 'patched',
  delete: 'deleted',
  deletecollection: 'deleted',
};

function summaryOf(f: RecordFacts, shown: AlertChange[]): string {
  const who = `${f.actor.name} (${[f.actor.kind, f.actor.tool].filter(Boolean).join(', ')})`;
  const what = f.outcome === 'failure' ? `failed to ${f.verb} (${f.statusCode ?? 'error'})` : (PAST[f.verb] ?? f.verb);
  const fields =
    shown.length > 0
      ? `: ${shown
          .slice(0, 3)
          .map((c) => c.path)
          .join(', ')}${shown.length > 3 ? ` (+${shown.length - 3})` : ''}`
      : '';
  const marks = [f.change.critical ? 'critical' : '', f.change.drift ? 'drift' : ''].filter(Boolean).join(', ');
  return `${who} ${what} ${objectLabel(f)} in ${f.cluster}${fields}${marks ? ` [${marks}]` : ''}`;
}

/** The alert of one record for the rules that fired. */
export function buildAlert(
  f: RecordFacts,
  rules: readonly AlertRule[],
  options: { kibanaUrl?: string | undefined; indexPrefix?: string | undefined } = {},
): Alert {
  const critical = new Set(f.change.criticalPaths);
  const picked = critical.size > 0 ? f.change.ops.filter((o) => critical.has(o.path)) : f.change.ops;
  const ops = picked.slice(0, MAX_CHANGES).map(change);
  return {
    record_id: f.recordId,
    cluster: f.cluster,
    time: f.time,
    rules: rules.map((r) => ({ name: r.name, description: r.description })),
    summary: summaryOf(f, ops),
    object: f.object,
    actor: f.actor,
    verb: f.verb,
    outcome: f.outcome,
    ...(f.statusCode !== undefined ? { status_code: f.statusCode } : {}),
    change: {
      kind: f.change.kind,
      critical: f.change.critical,
      drift: f.change.drift,
      critical_paths: f.change.criticalPaths,
      ops,
      ops_total: f.change.ops.length,
    },
    links: kibanaLinks(f, options.kibanaUrl, options.indexPrefix),
  };
}

/**
 * One message for several alerts about one object: the latest alert, with the count and every record id,
 * so a flapping object costs the receiver one message per window.
 */
export function groupAlerts(alerts: readonly Alert[], windowSeconds: number): AlertMessage {
  if (alerts.length === 0) throw new Error('groupAlerts: no alerts');
  const latest = alerts.reduce((a, b) => (b.time >= a.time ? b : a));
  return {
    alert: latest,
    count: alerts.length,
    record_ids: alerts.map((a) => a.record_id),
    window_seconds: windowSeconds,
  };
}

/** The message of a single alert. */
export function singleMessage(alert: Alert): AlertMessage {
  return { alert, count: 1, record_ids: [alert.record_id] };
}
