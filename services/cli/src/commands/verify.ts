import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { parse as parseCsv } from 'csv-parse';
import { checkConfigFile, loadConfig, loadEnv, type CrtrailConfig, type Env } from '@crtrail/config';
import { createEsClient, esConnectionFromEnv, indexNames, scanRecords, shownEsUrl } from '@crtrail/store';
import { createRedis, describeRedis, redisTargetFromEnv } from '@crtrail/queue';
import { ChainVerifier, checkSignature, configDigest, trustedDerivation, type ChainedRecord, type Derivation, type Manifest } from '@crtrail/integrity';
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
  /** Records not checked in part, by reason: their old values, and their derived fields (never passed silently). */
  unchecked?: { old_values: Record<string, number>; derived: Record<string, { records: number; fields: string[] }> };
}

/** An error that decides the exit status: 2 = nothing could be checked, as distinct from "checked and broken" (1). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Nothing to check: no such file, an empty chain, an unreachable service, a bad key or argument (exit 2). */
export class VerifyUsageError extends CliError {
  override name = 'VerifyUsageError';
  constructor(message: string) {
    super(message, 2);
  }
}

/**
 * Any Elasticsearch failure means nothing was checked (exit 2), never "broken": a cron job must
 * not read an outage as tampering. The message names the service and the variable to fix.
 */
function esFailure(err: unknown, env: Env): CliError {
  if (err instanceof CliError) return err;
  const e = err as { name?: string; message?: string; meta?: { statusCode?: number } };
  const url = shownEsUrl(env.CRTRAIL_ES_URL);
  const status = e.meta?.statusCode;
  if (status === 401 || status === 403) {
    return new VerifyUsageError(`Elasticsearch at ${url} refused crtrail's credentials (CRTRAIL_ES_USERNAME/CRTRAIL_ES_PASSWORD or CRTRAIL_ES_API_KEY): ${e.message}`);
  }
  // No HTTP answer at all (refused, reset, timed out, no living connection): the transport has no status.
  if (typeof status !== 'number' || status === 0) return new VerifyUsageError(`Elasticsearch at ${url} does not answer (CRTRAIL_ES_URL): ${e.message ?? String(err)}`);
  return new VerifyUsageError(`Elasticsearch at ${url} failed (CRTRAIL_ES_URL): ${e.message ?? String(err)}`);
}

function redisFailure(err: unknown, env: Env): VerifyUsageError {
  return new VerifyUsageError(`Redis at ${describeRedis(redisTargetFromEnv(env))} does not answer (CRTRAIL_REDIS_URL): ${(err as Error).message}`);
}

/** A bad environment is a usage problem (exit 2) too. */
function verifyEnv(): Env {
  try {
    return loadEnv();
  } catch (err) {
    throw new VerifyUsageError((err as Error).message);
  }
}

/**
 * The configurations derived fields are recomputed with: the `--config` files given, else
 * CRTRAIL_CONFIG (the built-in defaults when it is unset), as the worker reads it.
 */
export function verifyConfigs(files: readonly string[] = [], fromEnv: string | undefined = process.env.CRTRAIL_CONFIG): CrtrailConfig[] {
  if (files.length === 0) {
    try {
      return [loadConfig(fromEnv || undefined)];
    } catch (err) {
      throw new VerifyUsageError((err as Error).message);
    }
  }
  return files.map((f) => {
    const checked = checkConfigFile(f);
    if (!checked.ok) throw new VerifyUsageError(`invalid --config ${f}:\n  ${checked.errors.join('\n  ')}`);
    return checked.config;
  });
}

/** The trusted public key: a private key, or anything but an Ed25519 public key, is an error (exit 2). */
function readTrustedKey(path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new VerifyUsageError(`cannot read public key ${path}: ${(err as Error).message}`);
  }
  // createPublicKey accepts a private key too (and derives its public half): refuse it first, so
  // the auditor learns the private key went where it should not.
  let isPrivate = /PRIVATE KEY-----/.test(pem.toString('utf8'));
  if (!isPrivate) {
    try {
      createPrivateKey(pem);
      isPrivate = true;
    } catch {
      // Not a private key: good.
    }
  }
  if (isPrivate) throw new VerifyUsageError(`--public-key ${path}: this is a private key; pass the .pub file (made by crtrail keygen next to it)`);
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType ?? 'non-asymmetric'} key, not Ed25519`);
  } catch (err) {
    throw new VerifyUsageError(`--public-key ${path}: not an Ed25519 public key (PEM): ${(err as Error).message}`);
  }
  return pem;
}

function readManifest(path: string): Manifest {
  if (!existsSync(path)) throw new VerifyUsageError(`no manifest at ${path} (pass --manifest)`);
  let manifest: Partial<Manifest>;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8')) as Partial<Manifest>;
  } catch (err) {
    throw new VerifyUsageError(`manifest ${path} is not JSON: ${(err as Error).message}`);
  }
  // An empty or foreign manifest proves nothing: nothing to check against (2), never "intact".
  const missing = [
    typeof manifest?.crtrail_export !== 'number' && 'crtrail_export',
    typeof manifest?.count !== 'number' && 'count',
    typeof manifest?.file?.sha256 !== 'string' && 'file.sha256',
    (typeof manifest?.clusters !== 'object' || manifest.clusters === null) && 'clusters',
  ].filter(Boolean);
  if (missing.length > 0) throw new VerifyUsageError(`manifest ${path} is not a crtrail export manifest (no ${missing.join(', ')})`);
  return manifest as Manifest;
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
export async function verifyExport(file: string, options: { manifest?: string; publicKey?: string; configs?: CrtrailConfig[] } = {}): Promise<VerifyReport> {
  if (!existsSync(file)) throw new VerifyUsageError(`no such file: ${file}`);
  const manifestPath = options.manifest ?? manifestPathOf(file);
  const manifest = readManifest(manifestPath);
  const problems: string[] = [];
  const notes: string[] = [];
  const trusted = options.publicKey ? readTrustedKey(options.publicKey) : undefined;
  const configs = options.configs ?? verifyConfigs();
  const fileProblems: string[] = [];
  if (manifest.signature || trusted) {
    const sig = checkSignature(manifest, trusted);
    if (sig.ok) notes.push(`signature: valid, key ${sig.keyId.slice(0, 16)}…${sig.pinned ? ' (the trusted key)' : ' (key named by the manifest itself: pass --public-key to pin it)'}`);
    else fileProblems.push(`manifest: ${sig.reason}`);
  } else {
    notes.push('signature: none (the manifest is unsigned; it proves only that the file matches it)');
  }
  const format = manifest.format === 'csv' ? 'csv' : 'ndjson';
  // The configurations the manifest carries count only where they are what the records' chained digest names.
  const derivations = new Map<string, Derivation>();
  for (const [digest, value] of Object.entries(manifest.configurations ?? {})) {
    const trusted = trustedDerivation(digest, value);
    if (trusted) derivations.set(digest, trusted);
    else fileProblems.push(`manifest: configuration ${digest.slice(0, 16)}… is not the one its digest names (edited)`);
  }
  const verifier = new ChainVerifier({
    linksOnly: format === 'csv',
    allowedGaps: (cluster) => manifest.clusters?.[cluster]?.gaps,
    configs,
    derivations,
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
  if (format === 'csv') notes.push('csv: seqs and links checked; record content and derived fields are covered by the sha256 and signature only (export ndjson to recompute each hash and field)');
  else notes.push(...checkNotes(verifier, [...configs.map(configDigest), ...[...derivations.keys()].map((d) => `${d} (from the manifest)`)]));
  problems.push(...recordProblems, ...fileProblems);
  // An auditor's check must never pass on nothing.
  if (problems.length === 0 && walked.records === 0) throw new VerifyUsageError(`${file} holds no records (its manifest says ${manifest.count ?? 0}): nothing to check`);
  if (problems.length === 0) {
    const parts = [...seen].map(([c, s]) => `${c} seq ${s.first?.seq}–${s.last?.seq}${s.gaps.length ? ` (${s.gaps.length} filtered gaps)` : ''}`);
    notes.push(`chain: intact, ${walked.records} records${parts.length ? `: ${parts.join(', ')}` : ''}`);
  }
  return { ok: problems.length === 0, records: walked.records, problems, notes, ...(format === 'csv' ? {} : { unchecked: uncheckedOf(verifier) }) };
}

/** The verifier's problems as report lines, with a count of those it stopped collecting. */
function problemLines(v: ChainVerifier): string[] {
  const lines = v.problems.map((p) => `${p.kind}: ${p.message}`);
  if (v.totalProblems > v.problems.length) lines.push(`… and ${v.totalProblems - v.problems.length} more`);
  return lines;
}

/** What the walk checked beyond the links, and what it could not check, by reason. */
function checkNotes(v: ChainVerifier, digests: readonly string[]): string[] {
  const old = [...v.oldValuesUncheckedBy].map(([reason, n]) => `${n} records, ${reason}`);
  const derived = [...v.derivedUncheckedBy].map(([reason, d]) => `${d.records} records: ${reason} (${[...d.fields].join(', ')})`);
  return [
    `old values: ${v.oldValuesChecked} records checked against their predecessor's stored state${old.length ? `; not checkable: ${old.join('; ')}` : ''}`,
    `derived fields: ${v.derivedChecked} records recomputed in full (configuration ${digests.map((d) => `${d.slice(0, 16)}…${d.slice(64)}`).join(', ')})${derived.length ? `; NOT CHECKED in part: ${derived.join('; ')}` : ''}`,
  ];
}

function uncheckedOf(v: ChainVerifier): NonNullable<VerifyReport['unchecked']> {
  return {
    old_values: Object.fromEntries(v.oldValuesUncheckedBy),
    derived: Object.fromEntries([...v.derivedUncheckedBy].map(([r, d]) => [r, { records: d.records, fields: [...d.fields] }])),
  };
}

interface StoredRecord extends ChainedRecord {
  '@timestamp'?: string;
}

/** `crtrail verify --cluster`: walks the chain stored in Elasticsearch, then compares its end with the head in Redis. */
export async function verifyStoredChain(cluster: string, since?: string, options: { configs?: CrtrailConfig[] } = {}): Promise<VerifyReport> {
  const env = verifyEnv();
  const configs = options.configs ?? verifyConfigs();
  const es = createEsClient(esConnectionFromEnv(env));
  const redis = createRedis(redisTargetFromEnv(env), { maxRetriesPerRequest: 1, connectTimeout: 2_000, enableOfflineQueue: true, retryStrategy: () => null, lazyConnect: true });
  redis.on('error', () => {});
  const index = indexNames(env.CRTRAIL_INDEX_PREFIX).alias;
  const problems: string[] = [];
  const notes: string[] = [];
  const byCluster = { term: { 'orchestrator.cluster.name': cluster } };
  try {
    // Both services first: an outage is "could not check" (2), found before a long walk.
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      throw redisFailure(err, env);
    }
    const head = await chainHead(redis, env.CRTRAIL_INDEX_PREFIX, cluster).catch((err: unknown) => {
      throw redisFailure(err, env);
    });
    let startSeq = 1;
    let stored: { count: number; maxSeq: number | null; newest: string | null; sinceMin: number | null };
    try {
      await es.indices.refresh({ index, ignore_unavailable: true });
      const res = await es.search({
        index,
        size: 0,
        track_total_hits: true,
        query: byCluster,
        aggs: {
          max_seq: { max: { field: 'crtrail.integrity.seq' } },
          newest: { max: { field: '@timestamp' } },
          // Seq order is arrival order, not event time: a --since walk starts at the lowest seq of any record since T.
          ...(since ? { since: { filter: { range: { '@timestamp': { gte: since } } }, aggs: { min_seq: { min: { field: 'crtrail.integrity.seq' } } } } } : {}),
        },
        ignore_unavailable: true,
      });
      const aggs = res.aggregations as Record<string, { value?: number | null; value_as_string?: string; min_seq?: { value: number | null } }> | undefined;
      const total = typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? 0);
      stored = { count: total, maxSeq: aggs?.max_seq?.value ?? null, newest: aggs?.newest?.value_as_string ?? null, sinceMin: aggs?.since?.min_seq?.value ?? null };
    } catch (err) {
      throw esFailure(err, env);
    }
    // Deleting the newest records leaves no gap inside the walk: the head in Redis still counts them.
    const endMissing = (lastSeq: number): string | undefined => {
      if (head.seq <= lastSeq) return undefined;
      const range = head.seq === lastSeq + 1 ? `seq ${head.seq}` : `seqs ${lastSeq + 1}–${head.seq}`;
      return `missing: ${range} missing at the end of the chain (the head in Redis is at seq ${head.seq}${head.pending > 0 ? `; ${head.pending} records are still being written` : ''})`;
    };
    if (stored.count === 0 || (since && stored.sinceMin === null)) {
      // Nothing to walk. Records the head counts are deleted records (1); otherwise there is nothing to check (2).
      const missing = endMissing(stored.maxSeq ?? 0);
      if (missing) return { ok: false, records: 0, problems: [missing], notes };
      if (stored.count > 0) throw new VerifyUsageError(`no records of cluster ${cluster} since ${since} (its newest record is from ${stored.newest ?? 'an unknown time'}): nothing to check`);
      throw new VerifyUsageError(`no records of cluster ${cluster} (${await knownClusters(es, index, env)})`);
    }
    if (since) startSeq = stored.sinceMin!;
    const verifier = new ChainVerifier({ startSeq, configs, complete: !since });
    const progress = new Progress('verify');
    let records = 0;
    const query = { bool: { filter: [byCluster, ...(since ? [{ range: { 'crtrail.integrity.seq': { gte: startSeq } } }] : [])] } };
    try {
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
    } catch (err) {
      throw esFailure(err, env);
    }
    progress.done();
    verifier.finish();
    problems.push(...problemLines(verifier));
    const last = verifier.summary().get(cluster)?.last;
    const missing = endMissing(last?.seq ?? startSeq - 1);
    if (missing) {
      problems.push(missing);
    } else if (last && head.seq === last.seq && head.hash !== last.hash) {
      problems.push(`broken-link: seq ${last.seq} is not the record the chain head in Redis points to (replaced)`);
    } else if (head.seq > 0) {
      notes.push(`head: matches Redis (seq ${head.seq})`);
    } else {
      notes.push('head: none in Redis (lost in a restart without persistence?): the end of the chain is not confirmed');
    }
    // A record Elasticsearch refused for good waits in the dead-letter queue with its links.
    const parked = (await listDeadLetters(redis, env.CRTRAIL_INDEX_PREFIX).catch((err: unknown) => {
      throw redisFailure(err, env);
    }))
      .filter((d) => d.cluster === cluster)
      .map((d) => (d.action.doc as ChainedRecord).crtrail?.integrity?.seq)
      .filter((seq): seq is number => typeof seq === 'number');
    if (parked.length > 0) notes.push(`dead letters: seq ${parked.slice(0, 20).join(', ')}${parked.length > 20 ? ', …' : ''} of this cluster wait in the dead-letter queue (crtrail dlq replay puts them back)`);
    notes.push(...checkNotes(verifier, configs.map(configDigest)));
    if (problems.length === 0) notes.push(`chain: intact, ${records} records of cluster ${cluster}${last ? `, seq ${startSeq}–${last.seq}` : ''}`);
    return { ok: problems.length === 0, records, problems, notes, unchecked: uncheckedOf(verifier) };
  } finally {
    redis.disconnect();
    await es.close();
  }
}

/** The clusters that do have records, for the message that names a typo. */
async function knownClusters(es: ReturnType<typeof createEsClient>, index: string, env: Env): Promise<string> {
  try {
    const res = await es.search({ index, size: 0, aggs: { clusters: { terms: { field: 'orchestrator.cluster.name', size: 50 } } }, ignore_unavailable: true });
    const names = ((res.aggregations?.clusters as { buckets?: Array<{ key: string }> } | undefined)?.buckets ?? []).map((b) => b.key);
    return names.length > 0 ? `known clusters: ${names.join(', ')}` : `no records of any cluster under CRTRAIL_INDEX_PREFIX=${env.CRTRAIL_INDEX_PREFIX}`;
  } catch (err) {
    throw esFailure(err, env);
  }
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check an export against its manifest, or the hash chain stored in Elasticsearch, recomputing every derived field; exit 0 only if intact and not empty, 1 if broken, 2 if nothing could be checked')
    .argument('[file]', 'an export written by crtrail export')
    .option('--manifest <file>', 'manifest (default FILE.manifest.json)')
    .option('--public-key <file>', 'trusted Ed25519 public key (PEM); the manifest must be signed by it')
    .option('--cluster <name>', 'walk the stored chain of this cluster instead of a file')
    .option('--since <time>', 'with --cluster: start at the first record since this time')
    .option('--config <file>', 'configuration the records were written with, to recompute their derived fields (repeat for several; default CRTRAIL_CONFIG or the built-in one)', (v: string, all: string[] = []) => [...all, v])
    .option('--json', 'print the report as JSON')
    .action(async (file: string | undefined, opts: { manifest?: string; publicKey?: string; cluster?: string; since?: string; config?: string[]; json?: boolean }) => {
      if (!file && !opts.cluster) throw new VerifyUsageError('give a FILE to check an export, or --cluster NAME to check the stored chain');
      if (file && opts.cluster) throw new VerifyUsageError('give either a FILE or --cluster, not both');
      if (opts.since && !opts.cluster) throw new VerifyUsageError('--since goes with --cluster (an export is checked whole)');
      if (opts.publicKey && !file) throw new VerifyUsageError('--public-key checks an export\'s signature: give the FILE');
      const configs = verifyConfigs(opts.config ?? []);
      const report = file
        ? await verifyExport(file, { ...(opts.manifest ? { manifest: opts.manifest } : {}), ...(opts.publicKey ? { publicKey: opts.publicKey } : {}), configs })
        : await verifyStoredChain(opts.cluster!, opts.since, { configs });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(report)}\n`);
      } else {
        const out = report.ok ? process.stdout : process.stderr;
        const partly = Object.keys(report.unchecked?.derived ?? {}).length > 0 ? ' (some derived fields not checkable: see below)' : '';
        out.write(report.ok ? `INTACT ${file ?? `cluster ${opts.cluster}`}${partly}\n` : `BROKEN ${file ?? `cluster ${opts.cluster}`}: ${report.problems[0]}\n`);
        for (const p of report.problems.slice(1)) out.write(`  ${p}\n`);
        for (const n of report.notes) out.write(`  ${n}\n`);
      }
      process.exitCode = report.ok ? 0 : 1;
    });
}
