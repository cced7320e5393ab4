import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, renameSync, statSync, writeFileSync, type WriteStream } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { stringify } from 'csv-stringify/sync';
import { loadConfig, loadEnv } from '@crtrail/config';
import { createEsClient, esConnectionFromEnv, indexNames, recordQuery, scanRecords, type RecordFilters, type RecordOp } from '@crtrail/store';
import { configDigest, derivationConfig, manifestPathOf, SeqTally, signManifest, type Derivation, type Integrity, type Manifest } from '@crtrail/integrity';
import { Progress } from '../print/progress.js';
import { addRecordFilterOptions, pickFilters, timeArg } from './filter-options.js';

/** What the chain covers, written into every manifest so an auditor reads it next to the data. */
export const CHAINED_FIELDS_NOTE =
  'hash = sha256(prev_hash || RFC 8785 JSON of the record with v, cluster and seq, without event.ingested, crtrail.received_at, crtrail.integrity and crtrail.change other than state_hash and dry_run); ops are checked against the chained response body, and the other crtrail.change fields recomputed with the configuration whose digest crtrail.config_digest chains';

export const EXPORT_ORDER = 'orchestrator.cluster.name asc, crtrail.integrity.seq asc';

const CSV_COLUMNS = [
  'cluster', 'seq', 'hash', 'prev_hash', 'timestamp', 'event_id', 'verb', 'outcome', 'actor_kind', 'actor_name', 'actor_tool',
  'username', 'impersonated_user', 'source_ip', 'group', 'resource', 'subresource', 'namespace', 'name', 'change_kind',
  'op', 'path', 'old', 'new',
];

interface ExportDoc {
  '@timestamp'?: string;
  event?: { id?: string; action?: string; outcome?: string };
  orchestrator?: { cluster?: { name?: string } };
  source?: { ip?: string };
  kubernetes?: {
    audit?: {
      user?: { username?: string };
      impersonatedUser?: { username?: string };
      objectRef?: { apiGroup?: string; resource?: string; subresource?: string; namespace?: string; name?: string };
    };
  };
  crtrail?: { actor?: { kind?: string; name?: string; tool?: string }; change?: { kind?: string; ops?: RecordOp[] }; integrity?: Integrity; config_digest?: string };
}

const json = (v: unknown): string => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

/**
 * A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a leading tab/CR, OWASP's
 * CSV-injection list) gets a leading `'`: the values come from whoever wrote to the cluster.
 */
export function csvCell(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** One CSV row per changed field (a record without ops is one row with the op columns empty), formula-safe. */
export function csvRows(doc: ExportDoc): string[][] {
  return rawCsvRows(doc).map((row) => row.map(csvCell));
}

function rawCsvRows(doc: ExportDoc): string[][] {
  const a = doc.kubernetes?.audit ?? {};
  const ref = a.objectRef ?? {};
  const i = doc.crtrail?.integrity;
  const head = [
    doc.orchestrator?.cluster?.name ?? '', i ? String(i.seq) : '', i?.hash ?? '', i?.prev_hash ?? '', doc['@timestamp'] ?? '',
    doc.event?.id ?? '', doc.event?.action ?? '', doc.event?.outcome ?? '', doc.crtrail?.actor?.kind ?? '', doc.crtrail?.actor?.name ?? '',
    doc.crtrail?.actor?.tool ?? '', a.user?.username ?? '', a.impersonatedUser?.username ?? '', doc.source?.ip ?? '', ref.apiGroup ?? '',
    ref.resource ?? '', ref.subresource ?? '', ref.namespace ?? '', ref.name ?? '', doc.crtrail?.change?.kind ?? '',
  ];
  const ops = doc.crtrail?.change?.ops ?? [];
  if (ops.length === 0) return [[...head, '', '', '', '']];
  return ops.map((o) => [...head, o.op, o.path, json(o.old), json(o.new)]);
}

/** Writes with backpressure while hashing exactly the bytes written. */
class HashingWriter {
  private readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly out: WriteStream) {}

  async write(text: string): Promise<void> {
    const buf = Buffer.from(text);
    this.hash.update(buf);
    this.bytes += buf.length;
    if (!this.out.write(buf)) await new Promise<void>((r) => this.out.once('drain', r));
  }

  async end(): Promise<string> {
    await new Promise<void>((resolveEnd, reject) => {
      this.out.once('error', reject);
      this.out.end(resolveEnd);
    });
    return this.hash.digest('hex');
  }
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `now-7d` as the instant it means when the export starts: a manifest must name the range it
 * covers, not a range relative to whenever someone reads it. Months/years and rounding (`now/d`)
 * are left to Elasticsearch and recorded as given, with the export's start time beside them.
 */
export function resolveTime(value: string, now: number): string {
  const m = /^now(?:([+-])(\d+)([smhdw]))?$/.exec(value);
  if (!m) return value;
  const offset = m[1] ? (m[1] === '-' ? -1 : 1) * Number(m[2]) * UNIT_MS[m[3]!]! : 0;
  return new Date(now + offset).toISOString();
}

export interface ExportOptions extends RecordFilters {
  since: string;
  until: string;
  format: 'ndjson' | 'csv';
  out: string;
  pageSize?: number;
}

export async function runExport(opts: ExportOptions): Promise<Manifest> {
  const env = loadEnv();
  const es = createEsClient(esConnectionFromEnv(env));
  // Written under a temporary name first: a half-written export never sits next to a manifest.
  const partial = `${opts.out}.partial`;
  const dir = dirname(resolve(opts.out));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`--out ${opts.out}: the folder ${dir} does not exist (create it, or write elsewhere)`);
  const writer = new HashingWriter(createWriteStream(partial));
  const tally = new SeqTally();
  const progress = new Progress('export');
  const startedAt = Date.now();
  const since = resolveTime(opts.since, startedAt);
  const until = resolveTime(opts.until, startedAt);
  const filters: RecordFilters = { ...pickFilters(opts), since, until };
  let count = 0;
  const digests = new Set<string>();
  try {
    if (opts.format === 'csv') await writer.write(stringify([CSV_COLUMNS]));
    const hits = scanRecords<ExportDoc>(es, {
      index: indexNames(env.CRTRAIL_INDEX_PREFIX).alias,
      query: recordQuery(filters),
      sort: [{ 'orchestrator.cluster.name': 'asc' }, { 'crtrail.integrity.seq': { order: 'asc', missing: '_last', unmapped_type: 'long' } }],
      ...(opts.pageSize ? { pageSize: opts.pageSize } : {}),
      onTotal: (total) => progress.total(total),
    });
    for await (const { source } of hits) {
      await writer.write(opts.format === 'csv' ? stringify(csvRows(source)) : `${JSON.stringify(source)}\n`);
      count++;
      progress.tick();
      tally.add(source.orchestrator?.cluster?.name ?? '?', source.crtrail?.integrity);
      const digest = source.crtrail?.config_digest;
      if (typeof digest === 'string') digests.add(digest);
    }
  } catch (err) {
    await writer.end().catch(() => {});
    const type = (err as { body?: { error?: { type?: string } } }).body?.error?.type;
    throw new Error(`export failed${type ? ` (${type})` : ''}: ${(err as Error).message}`);
  } finally {
    progress.done();
    await es.close();
  }
  const sha256 = await writer.end();
  renameSync(partial, opts.out);
  let manifest: Manifest = {
    crtrail_export: 1,
    created_at: new Date(startedAt).toISOString(),
    format: opts.format,
    file: { name: basename(opts.out), sha256, bytes: writer.bytes },
    count,
    range: { since, until, ...(since !== opts.since || until !== opts.until ? { requested: { since: opts.since, until: opts.until } } : {}) },
    filters: Object.fromEntries(Object.entries(pickFilters(filters)).map(([k, v]) => [k, String(v)])),
    order: EXPORT_ORDER,
    chained_fields: CHAINED_FIELDS_NOTE,
    clusters: tally.clusters(),
  };
  // The exporter's own configuration, if records were written with it: the export then carries
  // what its derived fields are recomputed with (the chained digest vouches for it).
  let own: ReturnType<typeof loadConfig> | undefined;
  try {
    own = loadConfig(env.CRTRAIL_CONFIG);
  } catch (err) {
    // The export itself does not need it: say so, and carry no configuration.
    process.stderr.write(`export: no configuration in the manifest: ${(err as Error).message}\n`);
  }
  if (own && opts.format === 'ndjson' && digests.has(configDigest(own))) {
    manifest.configurations = { [configDigest(own)]: derivationConfig(own) satisfies Derivation };
  }
  if (env.CRTRAIL_SIGNING_KEY) {
    let pem: Buffer;
    try {
      pem = readFileSync(env.CRTRAIL_SIGNING_KEY);
    } catch (err) {
      throw new Error(`CRTRAIL_SIGNING_KEY: cannot read ${env.CRTRAIL_SIGNING_KEY}: ${(err as Error).message}`);
    }
    manifest = signManifest(manifest, pem);
  }
  writeFileSync(manifestPathOf(opts.out), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

export function registerExport(program: Command): void {
  addRecordFilterOptions(
    program
      .command('export')
      .description('stream change records to a file (NDJSON or CSV) with a manifest: count, chain links, sha256, Ed25519 signature')
      .requiredOption('--since <time>', 'ISO time or date math (now-7d), inclusive', timeArg)
      .requiredOption('--until <time>', 'ISO time or date math (now), exclusive', timeArg),
  )
    .option('--format <format>', 'ndjson (verifiable record by record) or csv (one row per changed field)', (v) => {
      if (v !== 'ndjson' && v !== 'csv') throw new InvalidArgumentError('expected ndjson or csv');
      return v;
    }, 'ndjson')
    .requiredOption('--out <file>', 'file to write; the manifest goes to FILE.manifest.json')
    .action(async (opts: ExportOptions) => {
      const manifest = await runExport(opts);
      const signed = manifest.signature ? `signed by key ${manifest.signature.key_id.slice(0, 16)}…` : 'unsigned (set CRTRAIL_SIGNING_KEY to sign)';
      process.stderr.write(`exported ${manifest.count} records to ${opts.out} (sha256 ${manifest.file.sha256.slice(0, 16)}…), manifest ${manifestPathOf(opts.out)}, ${signed}\n`);
    });
}
