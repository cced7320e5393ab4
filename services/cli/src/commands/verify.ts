import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { parse as parseCsv } from 'csv-parse';
import { loadEnv } from '@crtrail/config';
import { createEsClient, esConnectionFromEnv, indexNames, scanRecords } from '@crtrail/store';
import { createRedis } from '@crtrail/queue';
import { ChainVerifier, checkSignature, type ChainedRecord, type Manifest } from '@crtrail/integrity';
import { chainHead, listDeadLetters } from '@crtrail/worker';
import { manifestPathOf } from './export.js';
import { Progress } from '../progress.js';

export interface VerifyReport {
  ok: boolean;
  records: number;
  /** What is wrong, the first broken record first. */
  problems: string[];
  /** What was checked and holds (or could not be checked). */
  notes: string[];
}

/** A usage problem (no such file, unreadable manifest): exit 2, as distinct from "checked and broken" (1). */
export class VerifyUsageError extends Error {
  override name = 'VerifyUsageError';
}

function readManifest(path: string): Manifest {
  if (!existsSync(path)) throw new VerifyUsageError(`no manifest at ${path} (pass --manifest)`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (err) {
    throw new VerifyUsageError(`manifest ${path} is not JSON: ${(err as Error).message}`);
  }
}

/** Streams the file once: its sha256 over the raw bytes, and its records to the chain check. */
async function walkFile(file: string, format: Manifest['format'], verifier: ChainVerifier, onParseError: (line: number, message: string) => void): Promise<{ sha256: string; bytes: number; records: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let records = 0;
  const progress = new Progress('verify');
  const input = createReadStream(file);
  const tee = new PassThrough();
  input.on('data', (chunk) => {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  });
  input.on('error', (err) => tee.destroy(err));
  input.pipe(tee);
  if (format === 'csv') {
    // One row per changed field: a record is a run of rows with the same cluster and seq.
    let current = '';
    const rows = tee.pipe(parseCsv({ columns: true, relax_column_count: true }));
    for await (const row of rows as AsyncIterable<Record<string, string>>) {
      const key = `${row.cluster}\u0000${row.seq}\u0000${row.hash}`;
      if (key === current) continue;
      current = key;
      records++;
      progress.tick();
      const seq = Number(row.seq);
      const record: ChainedRecord = {
        orchestrator: { cluster: { name: row.cluster } },
        ...(row.seq ? { crtrail: { integrity: { seq, hash: row.hash ?? '', prev_hash: row.prev_hash ?? '' } } } : {}),
      };
      verifier.push(record, `record ${records}`);
    }
  } else {
    let line = 0;
    for await (const text of createInterface({ input: tee, crlfDelay: Infinity })) {
      line++;
      if (text.trim() === '') continue;
      records++;
      progress.tick();
      let record: ChainedRecord;
      try {
        record = JSON.parse(text) as ChainedRecord;
      } catch (err) {
        onParseError(line, (err as Error).message);
        continue;
      }
      verifier.push(record, `line ${line}`);
    }
  }
  progress.done();
  return { sha256: hash.digest('hex'), bytes, records };
}

/** `crtrail verify FILE`: signature, sha256, count and the chain inside the file, against its manifest. */
export async function verifyExport(file: string, options: { manifest?: string; publicKey?: string } = {}): Promise<VerifyReport> {
  if (!existsSync(file)) throw new VerifyUsageError(`no such file: ${file}`);
  const manifestPath = options.manifest ?? manifestPathOf(file);
  const manifest = readManifest(manifestPath);
  const problems: string[] = [];
  const notes: string[] = [];
  let trusted: Buffer | undefined;
  if (options.publicKey) {
    try {
      trusted = readFileSync(options.publicKey);
    } catch (err) {
      throw new VerifyUsageError(`cannot read public key ${options.publicKey}: ${(err as Error).message}`);
    }
  }
  const fileProblems: string[] = [];
  if (manifest.signature || trusted) {
    const sig = checkSignature(manifest, trusted);
    if (sig.ok) notes.push(`signature: valid, key ${sig.keyId.slice(0, 16)}…${sig.pinned ? ' (the trusted key)' : ' (key named by the manifest itself: pass --public-key to pin it)'}`);
    else fileProblems.push(`manifest: ${sig.reason}`);
  } else {
    notes.push('signature: none (the manifest is unsigned; it proves only that the file matches it)');
  }
  const format = manifest.format === 'csv' ? 'csv' : 'ndjson';
  const verifier = new ChainVerifier({
    linksOnly: format === 'csv',
    allowedGaps: (cluster) => manifest.clusters?.[cluster]?.gaps,
  });
  const recordProblems: string[] = [];
  const walked = await walkFile(file, format, verifier, (line, message) => recordProblems.push(`line ${line}: not valid JSON (edited): ${message}`));
  verifier.finish();
  recordProblems.push(...problemLines(verifier));

  if (walked.sha256 !== manifest.file?.sha256) fileProblems.push(`file: sha256 ${walked.sha256.slice(0, 16)}… differs from the manifest's ${String(manifest.file?.sha256).slice(0, 16)}… (the file was changed)`);
  else notes.push(`sha256: matches the manifest (${walked.bytes} bytes)`);
  if (walked.records !== manifest.count) fileProblems.push(`file: ${walked.records} records, the manifest says ${manifest.count}`);
  const seen = verifier.summary();
  for (const [cluster, expected] of Object.entries(manifest.clusters ?? {})) {
    const got = seen.get(cluster);
    if (!got) {
      fileProblems.push(`cluster ${cluster}: in the manifest, not in the file`);
      continue;
    }
    if (got.first?.seq !== expected.first.seq || got.first?.hash !== expected.first.hash) fileProblems.push(`cluster ${cluster}: first record is seq ${got.first?.seq}, the manifest says seq ${expected.first.seq}`);
    if (got.last?.seq !== expected.last.seq || got.last?.hash !== expected.last.hash) fileProblems.push(`cluster ${cluster}: last record is seq ${got.last?.seq}, the manifest says seq ${expected.last.seq}`);
  }
  for (const cluster of seen.keys()) if (!manifest.clusters?.[cluster]) fileProblems.push(`cluster ${cluster}: in the file, not in the manifest`);
  if (format === 'csv') notes.push('csv: seqs and links checked; record content is covered by the sha256 and signature only (export ndjson to recompute each hash)');
  else notes.push(oldValuesNote(verifier));
  problems.push(...recordProblems, ...fileProblems);
  if (problems.length === 0) {
    const parts = [...seen].map(([c, s]) => `${c} seq ${s.first?.seq}–${s.last?.seq}${s.gaps.length ? ` (${s.gaps.length} filtered gaps)` : ''}`);
    notes.push(`chain: intact, ${walked.records} records${parts.length ? `: ${parts.join(', ')}` : ''}`);
  }
  return { ok: problems.length === 0, records: walked.records, problems, notes };
}

/** The verifier's problems as report lines, with a count of those it stopped collecting. */
function problemLines(v: ChainVerifier): string[] {
  const lines = v.problems.map((p) => `${p.kind}: ${p.message}`);
  if (v.totalProblems > v.problems.length) lines.push(`… and ${v.totalProblems - v.problems.length} more`);
  return lines;
}

function oldValuesNote(v: ChainVerifier): string {
  const unchecked = v.oldValuesUnchecked;
  return `old values: ${v.oldValuesChecked} records checked against their predecessor's stored state${unchecked ? `, ${unchecked} not checkable (predecessor not in this walk)` : ''}`;
}

interface StoredRecord extends ChainedRecord {
  '@timestamp'?: string;
}

/** `crtrail verify --cluster`: walks the chain stored in Elasticsearch, then compares its end with the head in Redis. */
export async function verifyStoredChain(cluster: string, since?: string): Promise<VerifyReport> {
  const env = loadEnv();
  const es = createEsClient(esConnectionFromEnv(env));
  const index = indexNames(env.CRTRAIL_INDEX_PREFIX).alias;
  const problems: string[] = [];
  const notes: string[] = [];
  const byCluster = { term: { 'orchestrator.cluster.name': cluster } };
  let startSeq = 1;
  try {
    if (since) {
      // Seq order is arrival order, not event time: start at the lowest seq of any record since T.
      const res = await es.search({
        index,
        size: 0,
        query: { bool: { filter: [byCluster, { range: { '@timestamp': { gte: since } } }] } },
        aggs: { first: { min: { field: 'crtrail.integrity.seq' } } },
        ignore_unavailable: true,
      });
      const min = (res.aggregations?.first as { value: number | null } | undefined)?.value;
      if (min === null || min === undefined) {
        return { ok: true, records: 0, problems, notes: [`no records of cluster ${cluster} since ${since}`] };
      }
      startSeq = min;
    }
    const verifier = new ChainVerifier({ startSeq });
    const progress = new Progress('verify');
    let records = 0;
    const query = { bool: { filter: [byCluster, ...(since ? [{ range: { 'crtrail.integrity.seq': { gte: startSeq } } }] : [])] } };
    for await (const { id, source } of scanRecords<StoredRecord>(es, {
      index,
      query,
      sort: [{ 'crtrail.integrity.seq': { order: 'asc', missing: '_first', unmapped_type: 'long' } }],
      onTotal: (n) => progress.total(n),
    })) {
      records++;
      progress.tick();
      verifier.push(source, `_id ${id}`);
    }
    progress.done();
    verifier.finish();
    problems.push(...problemLines(verifier));
    const last = verifier.summary().get(cluster)?.last;
    // Deleting the newest records leaves no gap inside the walk: the head in Redis still counts them.
    const redis = createRedis(env.CRTRAIL_REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2_000, enableOfflineQueue: true });
    redis.on('error', () => {});
    try {
      const head = await chainHead(redis, env.CRTRAIL_INDEX_PREFIX, cluster);
      const lastSeq = last?.seq ?? startSeq - 1;
      if (head.seq > lastSeq) {
        const range = head.seq === lastSeq + 1 ? `seq ${head.seq}` : `seqs ${lastSeq + 1}–${head.seq}`;
        problems.push(
          `missing: ${range} missing at the end of the chain (the head in Redis is at seq ${head.seq}${head.pending > 0 ? `; ${head.pending} records are still being written` : ''})`,
        );
      } else if (last && head.seq === last.seq && head.hash !== last.hash) {
        problems.push(`broken-link: seq ${last.seq} is not the record the chain head in Redis points to (replaced)`);
      } else if (head.seq > 0) {
        notes.push(`head: matches Redis (seq ${head.seq})`);
      }
      // A record Elasticsearch refused for good waits in the dead-letter queue with its links.
      const parked = (await listDeadLetters(redis, env.CRTRAIL_INDEX_PREFIX))
        .filter((d) => d.cluster === cluster)
        .map((d) => (d.action.doc as ChainedRecord).crtrail?.integrity?.seq)
        .filter((seq): seq is number => typeof seq === 'number');
      if (parked.length > 0) notes.push(`dead letters: seq ${parked.slice(0, 20).join(', ')}${parked.length > 20 ? ', …' : ''} of this cluster wait in the dead-letter queue (crtrail dlq replay puts them back)`);
    } catch (err) {
      notes.push(`head: not compared, Redis unreachable (${(err as Error).message})`);
    } finally {
      redis.disconnect();
    }
    notes.push(oldValuesNote(verifier));
    if (problems.length === 0) notes.push(`chain: intact, ${records} records of cluster ${cluster}${last ? `, seq ${startSeq}–${last.seq}` : ''}`);
    return { ok: problems.length === 0, records, problems, notes };
  } finally {
    await es.close();
  }
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check an export against its manifest, or the hash chain stored in Elasticsearch; exit 0 only if intact')
    .argument('[file]', 'an export written by crtrail export')
    .option('--manifest <file>', 'manifest (default FILE.manifest.json)')
    .option('--public-key <file>', 'trusted Ed25519 public key (PEM); the manifest must be signed by it')
    .option('--cluster <name>', 'walk the stored chain of this cluster instead of a file')
    .option('--since <time>', 'with --cluster: start at the first record since this time')
    .option('--json', 'print the report as JSON')
    .action(async (file: string | undefined, opts: { manifest?: string; publicKey?: string; cluster?: string; since?: string; json?: boolean }) => {
      if (!file && !opts.cluster) throw new VerifyUsageError('give a FILE to check an export, or --cluster NAME to check the stored chain');
      if (file && opts.cluster) throw new VerifyUsageError('give either a FILE or --cluster, not both');
      const report = file
        ? await verifyExport(file, { ...(opts.manifest ? { manifest: opts.manifest } : {}), ...(opts.publicKey ? { publicKey: opts.publicKey } : {}) })
        : await verifyStoredChain(opts.cluster!, opts.since);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(report)}\n`);
      } else {
        const out = report.ok ? process.stdout : process.stderr;
        out.write(report.ok ? `INTACT ${file ?? `cluster ${opts.cluster}`}\n` : `BROKEN ${file ?? `cluster ${opts.cluster}`}: ${report.problems[0]}\n`);
        for (const p of report.problems.slice(1)) out.write(`  ${p}\n`);
        for (const n of report.notes) out.write(`  ${n}\n`);
      }
      process.exitCode = report.ok ? 0 : 1;
    });
}
