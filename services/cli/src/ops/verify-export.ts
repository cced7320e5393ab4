import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';
import type { CrtrailConfig } from '@crtrail/config';
import {
  ChainVerifier,
  checkSignature,
  configDigest,
  manifestPathOf,
  trustedDerivation,
  type ChainedRecord,
  type Derivation,
  type Manifest,
} from '@crtrail/integrity';
import { nothingChecked } from '../errors.js';
import { Progress } from '../print/progress.js';
import { readManifest, readTrustedKey, verifyConfigs } from './verify-inputs.js';
import { checkNotes, problemLines, uncheckedOf, type VerifyReport } from './verify-report.js';

/** Streams the file once: its sha256 over the raw bytes, and its records to the chain check. */
async function walkFile(
  file: string,
  format: Manifest['format'],
  verifier: ChainVerifier,
  onParseError: (line: number, message: string) => void,
): Promise<{ sha256: string; bytes: number; records: number }> {
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
export async function verifyExport(
  file: string,
  options: { manifest?: string; publicKey?: string; configs?: CrtrailConfig[] } = {},
): Promise<VerifyReport> {
  if (!existsSync(file)) throw nothingChecked(`no such file: ${file}`);
  const manifestPath = options.manifest ?? manifestPathOf(file);
  const manifest = readManifest(manifestPath);
  const problems: string[] = [];
  const notes: string[] = [];
  const trusted = options.publicKey ? readTrustedKey(options.publicKey) : undefined;
  const configs = options.configs ?? verifyConfigs();
  const fileProblems: string[] = [];
  if (manifest.signature || trusted) {
    const sig = checkSignature(manifest, trusted);
    if (sig.ok)
      notes.push(
        `signature: valid, key ${sig.keyId.slice(0, 16)}…${sig.pinned ? ' (the trusted key)' : ' (key named by the manifest itself: pass --public-key to pin it)'}`,
      );
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
  const walked = await walkFile(file, format, verifier, (line, message) =>
    recordProblems.push(`line ${line}: not valid JSON (edited): ${message}`),
  );
  verifier.finish();
  recordProblems.push(...problemLines(verifier));

  if (walked.sha256 !== manifest.file?.sha256)
    fileProblems.push(
      `file: sha256 ${walked.sha256.slice(0, 16)}… differs from the manifest's ${String(manifest.file?.sha256).slice(0, 16)}… (the file was changed)`,
    );
  else notes.push(`sha256: matches the manifest (${walked.bytes} bytes)`);
  if (walked.records !== manifest.count)
    fileProblems.push(`file: ${walked.records} records, the manifest says ${manifest.count}`);
  const seen = verifier.summary();
  for (const [cluster, expected] of Object.entries(manifest.clusters ?? {})) {
    const got = seen.get(cluster);
    if (!got) {
      fileProblems.push(`cluster ${cluster}: in the manifest, not in the file`);
      continue;
    }
    if (got.first?.seq !== expected.first.seq || got.first?.hash !== expected.first.hash)
      fileProblems.push(
        `cluster ${cluster}: first record is seq ${got.first?.seq}, the manifest says seq ${expected.first.seq}`,
      );
    if (got.last?.seq !== expected.last.seq || got.last?.hash !== expected.last.hash)
      fileProblems.push(
        `cluster ${cluster}: last record is seq ${got.last?.seq}, the manifest says seq ${expected.last.seq}`,
      );
  }
  for (const cluster of seen.keys())
    if (!manifest.clusters?.[cluster]) fileProblems.push(`cluster ${cluster}: in the file, not in the manifest`);
  if (format === 'csv')
    notes.push(
      'csv: seqs and links checked; record content and derived fields are covered by the sha256 and signature only (export ndjson to recompute each hash and field)',
    );
  else
    notes.push(
      ...checkNotes(verifier, [
        ...configs.map(configDigest),
        ...[...derivations.keys()].map((d) => `${d} (from the manifest)`),
      ]),
    );
  problems.push(...recordProblems, ...fileProblems);
  // An auditor's check must never pass on nothing.
  if (problems.length === 0 && walked.records === 0)
    throw nothingChecked(`${file} holds no records (its manifest says ${manifest.count ?? 0}): nothing to check`);
  if (problems.length === 0) {
    const parts = [...seen].map(
      ([c, s]) => `${c} seq ${s.first?.seq}–${s.last?.seq}${s.gaps.length ? ` (${s.gaps.length} filtered gaps)` : ''}`,
    );
    notes.push(`chain: intact, ${walked.records} records${parts.length ? `: ${parts.join(', ')}` : ''}`);
  }
  return {
    ok: problems.length === 0,
    records: walked.records,
    problems,
    notes,
    ...(format === 'csv' ? {} : { unchecked: uncheckedOf(verifier) }),
  };
}
