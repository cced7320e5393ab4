import { InvalidArgumentError, type Command } from 'commander';
import type { estypes } from '@elastic/elasticsearch';
import { addRecordFilterOptions, pickFilters, timeArg } from './filter-options.js';
import { loadEnv } from '@crtrail/config';
import { createEsClient, esConnectionFromEnv, indexNames, recordQuery, shownEsUrl, type RecordFilters, type RecordOp } from '@crtrail/store';

/** Values longer than this are cut on screen (`--wide` shows them whole). */
const MAX_VALUE = 80;
/** Records fetched per search: pages follow with search_after, so `--limit` may pass Elasticsearch's 10,000 window. */
const PAGE = 1_000;
/** A redaction hash (`sha256:` + 64 hex) as a reader needs it: enough digits to see that it changed. */
const REDACTED = /sha256:([0-9a-f]{8})[0-9a-f]{56}/g;

export function shortenHashes(text: string): string {
  return text.replace(REDACTED, 'sha256:$1…');
}
const colours = { dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m', bold: '\x1b[1m', reset: '\x1b[0m' };
const plain = Object.fromEntries(Object.keys(colours).map((k) => [k, ''])) as typeof colours;

export interface ChangeDoc {
  '@timestamp': string;
  event: { id?: string; action: string; outcome: string };
  orchestrator: { cluster: { name: string } };
  kubernetes: { audit: { objectRef: { apiGroup?: string; resource?: string; subresource?: string; namespace?: string; name?: string }; responseStatus?: { code?: number } } };
  crtrail: {
    actor: { name: string; kind?: string; tool?: string };
    change: { ops?: RecordOp[]; kind: string; baseline?: string; dry_run?: boolean; critical?: boolean; critical_paths?: string[]; drift?: boolean };
  };
}

/**
 * A value as a person reads it: strings bare unless they would be mistaken for something else (empty,
 * padded, a number or a literal), other JSON as JSON; a redacted value as its short hash.
 */
export function showValue(v: unknown, wide = false): string {
  const bare = typeof v === 'string' && v !== '' && v.trim() === v && !/^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)$/.test(v) && !/[\n\r\t]/.test(v);
  const text = bare ? (v as string) : JSON.stringify(v) ?? 'undefined';
  if (wide) return text;
  const s = shortenHashes(text);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
}

function isCritical(path: string, criticalPaths: string[] | undefined): boolean {
  return (criticalPaths ?? []).some((c) => path === c || path.startsWith(`${c}/`) || c.startsWith(`${path}/`));
}

export interface FormatOptions {
  colour: boolean;
  wide?: boolean;
  id?: string;
}

/**
 * One header line per write — time, cluster, actor (kind, tool), verb, object, flags, record id — and an
 * indented line per changed field: `+ path: new`, `- path: old`, `~ path: old → new`, `?` where the
 * old value is not known (no baseline), `[critical]` on the fields the critical rules name.
 */
export function formatChange(doc: ChangeDoc, options: FormatOptions): string[] {
  const c = options.colour ? colours : plain;
  const ref = doc.kubernetes.audit.objectRef;
  const change = doc.crtrail.change;
  const actor = doc.crtrail.actor;
  const what = `${ref.apiGroup ?? ''}/${ref.resource ?? ''}${ref.subresource ? `/${ref.subresource}` : ''}`;
  const obj = `${ref.namespace ? `${ref.namespace}/` : ''}${ref.name ?? '*'}`;
  const who = [actor.kind, actor.tool].filter((x) => x && x !== 'unknown').join(', ');
  const failed = doc.event.outcome === 'failure';
  const flags = [
    change.critical ? `${c.yellow}critical${c.reset}` : '',
    change.drift ? `${c.yellow}drift${c.reset}` : '',
    change.dry_run ? 'dry-run' : '',
    failed ? `${c.red}FAILED${doc.kubernetes.audit.responseStatus?.code ? ` ${doc.kubernetes.audit.responseStatus.code}` : ''}${c.reset}` : '',
    change.baseline === 'unknown' ? 'baseline unknown' : '',
  ].filter(Boolean);
  const head = [
    `${c.dim}${doc['@timestamp']}${c.reset}`,
    doc.orchestrator.cluster.name,
    `${c.cyan}${actor.name}${c.reset}${who ? ` (${who})` : ''}`,
    `${c.bold}${doc.event.action}${c.reset}`,
    what,
    obj,
    `${change.kind}${flags.length ? ` [${flags.join(', ')}]` : ''}`,
    options.id ? `${c.dim}id ${options.id}${c.reset}` : '',
  ]
    .filter(Boolean)
    .join('  ');
  const lines = [head];
  for (const o of change.ops ?? []) {
    const mark = isCritical(o.path, change.critical_paths) ? ` ${c.yellow}[critical]${c.reset}` : '';
    const old = 'old' in o && o.old !== undefined ? `${c.red}${showValue(o.old, options.wide)}${c.reset}` : '?';
    const now = `${c.green}${showValue(o.new, options.wide)}${c.reset}`;
    if (o.op === 'add') lines.push(`    + ${o.path}: ${now}${mark}`);
    else if (o.op === 'remove') lines.push(`    - ${o.path}: ${old}${mark}`);
    else lines.push(`    ~ ${o.path}: ${old} → ${now}${mark}`);
  }
  return lines;
}

function limitArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive number of records');
  return n;
}

type ChangesOptions = RecordFilters & { limit: number; all?: boolean; json?: boolean; format: 'text' | 'json'; wide?: boolean; timeline?: boolean };

/** Records matching `query`, `limit` at most, in pages (search_after) so any limit works. */
export async function* records(
  es: ReturnType<typeof createEsClient>,
  index: string,
  query: estypes.QueryDslQueryContainer,
  order: 'asc' | 'desc',
  limit: number,
  onTotal: (n: number) => void = () => {},
  page = PAGE,
) {
  let after: estypes.SortResults | undefined;
  let seen = 0;
  for (;;) {
    const res = await es.search<ChangeDoc>({
      index,
      query,
      // A total order, so search_after pages neither skip nor repeat a record (a deletecollection's
      // records share their event.id; seq is unique per cluster).
      sort: [{ '@timestamp': order }, { 'event.id': order }, { 'orchestrator.cluster.name': order }, { 'crtrail.integrity.seq': { order, missing: '_last', unmapped_type: 'long' } }],
      size: Math.min(page, limit - seen),
      ignore_unavailable: true,
      track_total_hits: seen === 0 ? true : false,
      ...(after ? { search_after: after } : {}),
    });
    if (seen === 0) onTotal(typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? 0));
    for (const hit of res.hits.hits) {
      yield hit;
      seen++;
    }
    const last = res.hits.hits.at(-1);
    if (!last || seen >= limit || res.hits.hits.length === 0) return;
    after = last.sort;
  }
}

export function registerChanges(program: Command): void {
  addRecordFilterOptions(program.command('changes').description('print the change history from Elasticsearch: a line per write (newest first), an indented line per changed field'))
    .option('--since <time>', 'ISO time or date math (now-1h), inclusive', timeArg)
    .option('--until <time>', 'ISO time or date math (now), exclusive', timeArg)
    .option('--timeline', "one object's history, oldest first (with --name, and --namespace/--resource to pin it)")
    .option('--limit <n>', 'records to show', limitArg, 100)
    .option('--all', 'every matching record (no --limit)')
    .option('--wide', 'values in full (default: cut at 80 characters, hashes shortened)')
    .option('--format <format>', 'text (for people) or json (one JSON record per line, with its _id), as `export --format`', (v) => {
      if (v !== 'text' && v !== 'json') throw new InvalidArgumentError('expected text or json');
      return v;
    }, 'text')
    .option('--json', 'the same as --format json')
    .action(async (opts: ChangesOptions) => {
      const asJson = opts.json === true || opts.format === 'json';
      if (opts.timeline && !opts.name) throw new Error('--timeline needs --name (the object whose history to show)');
      const env = loadEnv();
      const es = createEsClient(esConnectionFromEnv(env));
      const limit = opts.all ? Number.MAX_SAFE_INTEGER : opts.limit;
      let total = 0;
      let shown = 0;
      const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
      try {
        const query = recordQuery({ ...pickFilters(opts), ...(opts.since ? { since: opts.since } : {}), ...(opts.until ? { until: opts.until } : {}) });
        for await (const hit of records(es, indexNames(env.CRTRAIL_INDEX_PREFIX).alias, query, opts.timeline ? 'asc' : 'desc', limit, (n) => (total = n))) {
          if (!hit._source) continue;
          shown++;
          if (asJson) process.stdout.write(`${JSON.stringify({ _id: hit._id, ...hit._source })}\n`);
          else for (const line of formatChange(hit._source, { colour, wide: opts.wide, ...(hit._id ? { id: hit._id } : {}) })) process.stdout.write(`${line}\n`);
        }
      } catch (err) {
        const type = (err as { body?: { error?: { type?: string } } }).body?.error?.type;
        if (type === 'index_not_found_exception') {
          process.stderr.write('no changes recorded yet\n');
          return;
        }
        throw new Error(`cannot query Elasticsearch at ${shownEsUrl(env.CRTRAIL_ES_URL)} (CRTRAIL_ES_URL): ${(err as Error).message}`);
      } finally {
        await es.close();
      }
      if (shown === 0) process.stderr.write('no changes match\n');
      else if (total > shown) process.stderr.write(`showing ${shown} of ${total} records (--limit N or --all for more)\n`);
    });
}
