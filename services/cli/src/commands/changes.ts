import type { Command } from 'commander';
import { addRecordFilterOptions } from './filter-options.js';
import { loadEnv } from '@crtrail/config';
import { createEsClient, esConnectionFromEnv, indexNames, recordQuery, type RecordFilters, type RecordOp } from '@crtrail/store';

const MAX_VALUE = 80;
const colours = { dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m', reset: '\x1b[0m' };

/** A redaction hash (`sha256:` + 64 hex) as a reader needs it: enough digits to see that it changed. */
const REDACTED = /sha256:([0-9a-f]{8})[0-9a-f]{56}/g;

export function shortenHashes(text: string): string {
  return text.replace(REDACTED, 'sha256:$1…');
}

function value(v: unknown): string {
  if (v === undefined) return '∅';
  const s = shortenHashes(typeof v === 'string' ? v : JSON.stringify(v));
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
}

interface Doc {
  '@timestamp': string;
  event: { action: string; outcome: string };
  orchestrator: { cluster: { name: string } };
  kubernetes: { audit: { objectRef: { apiGroup?: string; resource?: string; subresource?: string; namespace?: string; name?: string } } };
  crtrail: { actor: { name: string }; change: { ops?: RecordOp[]; kind: string; dry_run?: boolean; critical?: boolean } };
}

/** One line per changed field: `time cluster actor verb group/resource ns/name path: old → new`. */
export function formatChange(doc: Doc, colour: boolean): string[] {
  const c = colour ? colours : { dim: '', red: '', green: '', yellow: '', cyan: '', reset: '' };
  const ref = doc.kubernetes.audit.objectRef;
  const what = `${ref.apiGroup ?? ''}/${ref.resource ?? ''}${ref.subresource ? `/${ref.subresource}` : ''}`;
  const obj = `${ref.namespace ? `${ref.namespace}/` : ''}${ref.name ?? '*'}`;
  const flags = [doc.event.outcome === 'failure' ? `${c.red}FAILED${c.reset}` : '', doc.crtrail.change.dry_run ? 'dry-run' : '', doc.crtrail.change.critical ? `${c.yellow}critical${c.reset}` : '']
    .filter(Boolean)
    .join(' ');
  const head = `${c.dim}${doc['@timestamp']}${c.reset} ${doc.orchestrator.cluster.name} ${c.cyan}${doc.crtrail.actor.name}${c.reset} ${doc.event.action} ${what} ${obj}${flags ? ` [${flags}]` : ''}`;
  const ops = doc.crtrail.change.ops ?? [];
  if (ops.length === 0) return [`${head} (${doc.crtrail.change.kind})`];
  return ops.map((o) => `${head} ${o.path}: ${c.red}${value(o.old)}${c.reset} → ${c.green}${value(o.new)}${c.reset}`);
}

export function registerChanges(program: Command): void {
  addRecordFilterOptions(program.command('changes').description('print the change history from Elasticsearch, newest first, one changed field per line'))
    .option('--since <time>', 'ISO time or date math (now-1h)')
    .option('--until <time>')
    .option('--critical', 'only changes touching critical fields')
    .option('--limit <n>', 'records to show', (v) => Number(v), 100)
    .option('--json', 'one JSON record per line')
    .action(async (opts: RecordFilters & { limit: number; json?: boolean }) => {
      const env = loadEnv();
      const es = createEsClient(esConnectionFromEnv(env));
      try {
        const res = await es.search<Doc>({
          index: indexNames(env.CRTRAIL_INDEX_PREFIX).alias,
          query: recordQuery(opts),
          sort: [{ '@timestamp': 'desc' }, { 'event.id': 'desc' }],
          size: opts.limit,
          ignore_unavailable: true,
        });
        const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
        for (const hit of res.hits.hits) {
          if (!hit._source) continue;
          if (opts.json) process.stdout.write(`${JSON.stringify({ _id: hit._id, ...hit._source })}\n`);
          else for (const line of formatChange(hit._source, colour)) process.stdout.write(`${line}\n`);
        }
        if (res.hits.hits.length === 0) process.stderr.write('no changes match\n');
      } catch (err) {
        const type = (err as { body?: { error?: { type?: string } } }).body?.error?.type;
        if (type === 'index_not_found_exception') {
          process.stderr.write('no changes recorded yet\n');
          return;
        }
        throw new Error(`cannot query Elasticsearch at ${env.CRTRAIL_ES_URL}: ${(err as Error).message}`);
      } finally {
        await es.close();
      }
    });
}
