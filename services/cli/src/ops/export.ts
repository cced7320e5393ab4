import { createHash } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { loadConfig, loadEnv, type CrtrailConfig, type Env } from '@crtrail/config';
import {
  createEsClient,
  esConnectionFromEnv,
  indexNames,
  recordQuery,
  scanRecords,
  type RecordFilters,
} from '@crtrail/store';
import {
  configDigest,
  derivationConfig,
  manifestPathOf,
  SeqTally,
  signManifest,
  type Derivation,
  type Manifest,
} from '@crtrail/integrity';
import { CliError } from '../errors.js';
import { Progress } from '../print/progress.js';
import { CSV_COLUMNS, csvRows, type ExportDoc } from './export-csv.js';
import { pickFilters } from './record-filters.js';

/** What the chain covers, written into every manifest so an auditor reads it next to the data. */
export const CHAINED_FIELDS_NOTE =
  'hash = sha256(prev_hash || RFC 8785 JSON of the record with v, cluster and seq, without event.ingested, crtrail.received_at, crtrail.integrity and crtrail.change other than state_hash and dry_run); ops are checked against the chained response body, and the other crtrail.change fields recomputed with the configuration whose digest crtrail.config_digest chains';

export const EXPORT_ORDER = 'orchestrator.cluster.name asc, crtrail.integrity.seq asc';

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

/** What the walk wrote: the file's sha256 and size, and what the manifest says of its records. */
interface Written {
  sha256: string;
  bytes: number;
  count: number;
  tally: SeqTally;
  /** The configuration digests the records chain (`crtrail.config_digest`). */
  digests: Set<string>;
}

/**
 * `crtrail export`: the records of `opts` in export order into `opts.out`, then its manifest next to
 * it (signed with CRTRAIL_SIGNING_KEY when set). `warn` hears what the export did without.
 */
export async function runExport(opts: ExportOptions, warn: (message: string) => void = () => {}): Promise<Manifest> {
  const env = loadEnv();
  const dir = dirname(resolve(opts.out));
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CliError(`--out ${opts.out}: the folder ${dir} does not exist (create it, or write elsewhere)`);
  const startedAt = Date.now();
  const since = resolveTime(opts.since, startedAt);
  const until = resolveTime(opts.until, startedAt);
  const filters: RecordFilters = { ...pickFilters(opts), since, until };
  const written = await writeRecords(env, opts, filters);
  let manifest: Manifest = {
    crtrail_export: 1,
    created_at: new Date(startedAt).toISOString(),
    format: opts.format,
    file: { name: basename(opts.out), sha256: written.sha256, bytes: written.bytes },
    count: written.count,
    range: {
      since,
      until,
      ...(since !== opts.since || until !== opts.until ? { requested: { since: opts.since, until: opts.until } } : {}),
    },
    filters: Object.fromEntries(Object.entries(pickFilters(filters)).map(([k, v]) => [k, String(v)])),
    order: EXPORT_ORDER,
    chained_fields: CHAINED_FIELDS_NOTE,
    clusters: written.tally.clusters(),
  };
  const configurations = ownConfiguration(env, opts.format, written.digests, warn);
  if (configurations) manifest.configurations = configurations;
  if (env.CRTRAIL_SIGNING_KEY) manifest = signManifest(manifest, readSigningKey(env.CRTRAIL_SIGNING_KEY));
  writeFileSync(manifestPathOf(opts.out), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Streams the matching records into `opts.out`, hashing the bytes and tallying the chain as they go. */
async function writeRecords(env: Env, opts: ExportOptions, filters: RecordFilters): Promise<Written> {
  const es = createEsClient(esConnectionFromEnv(env));
  // Written under a temporary name first: a half-written export never sits next to a manifest.
  const partial = `${opts.out}.partial`;
  const writer = new HashingWriter(createWriteStream(partial));
  const tally = new SeqTally();
  const progress = new Progress('export');
  let count = 0;
  const digests = new Set<string>();
  try {
    if (opts.format === 'csv') await writer.write(stringify([CSV_COLUMNS]));
    const hits = scanRecords<ExportDoc>(es, {
      index: indexNames(env.CRTRAIL_INDEX_PREFIX).alias,
      query: recordQuery(filters),
      sort: [
        { 'orchestrator.cluster.name': 'asc' },
        { 'crtrail.integrity.seq': { order: 'asc', missing: '_last', unmapped_type: 'long' } },
      ],
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
    throw new CliError(`export failed${type ? ` (${type})` : ''}: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  } finally {
    progress.done();
    await es.close();
  }
  const sha256 = await writer.end();
  renameSync(partial, opts.out);
  return { sha256, bytes: writer.bytes, count, tally, digests };
}

/**
 * The exporter's own configuration, if records were written with it: the export then carries what
 * its derived fields are recomputed with (the chained digest vouches for it). CSV carries none: its
 * derived fields are not recomputed.
 */
function ownConfiguration(
  env: Env,
  format: ExportOptions['format'],
  digests: Set<string>,
  warn: (message: string) => void,
): Manifest['configurations'] {
  let own: CrtrailConfig;
  try {
    own = loadConfig(env.CRTRAIL_CONFIG);
  } catch (err) {
    // The export itself does not need it: say so, and carry no configuration.
    warn(`no configuration in the manifest: ${(err as Error).message}`);
    return undefined;
  }
  if (format !== 'ndjson' || !digests.has(configDigest(own))) return undefined;
  return { [configDigest(own)]: derivationConfig(own) satisfies Derivation };
}

function readSigningKey(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CliError(`CRTRAIL_SIGNING_KEY: cannot read ${path}: ${(err as Error).message}`);
  }
}
