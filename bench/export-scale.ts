/**
 * `npm run bench:export [-- --records N]`: how `crtrail export` and `crtrail verify` scale. Indexes
 * N (default 1,000,000) sealed change records of one cluster straight into Elasticsearch under a
 * throwaway prefix, then runs the real CLI as a user would — export to NDJSON, verify the file —
 * sampling each process's peak RSS (VmHWM). Writes bench/results/export-scale.{json,md}.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import { ensureElasticsearch, ensureRedis, repoRoot } from '@crtrail/stack';
import { buildRecord, bulkWrite, createEsClient, deletePrefix, indexNames, installTemplates } from '@crtrail/store';
import { GENESIS_HASH, sealRecords, type ChainHead } from '@crtrail/integrity';
import type { AuditEvent } from '@crtrail/audit';

const argv = process.argv.slice(2);
const RECORDS = Number(argv[argv.indexOf('--records') + 1] || 0) || 1_000_000;
const ES_URL = process.env.CRTRAIL_ES_URL || 'http://127.0.0.1:9200';
const REDIS_URL = process.env.CRTRAIL_REDIS_URL || 'redis://127.0.0.1:6379';
const CHUNK = 4_000;
const CLUSTER = 'bench-export';
const say = (m: string) => process.stderr.write(`bench:export: ${m}\n`);

/** A realistic small record: a controller's status patch on one of 2,000 Certificates. */
function event(i: number): AuditEvent {
  const name = `cert-${i % 2_000}`;
  const t = new Date(Date.UTC(2026, 0, 1) + i * 100).toISOString();
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'RequestResponse',
    auditID: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    stage: 'ResponseComplete',
    requestURI: `/apis/cert-manager.io/v1/namespaces/apps/certificates/${name}/status`,
    verb: 'patch',
    user: {
      username: 'system:serviceaccount:cert-manager:cert-manager',
      groups: ['system:serviceaccounts', 'system:authenticated'],
    },
    sourceIPs: ['10.0.0.12'],
    userAgent: 'cert-manager-certificates-readiness/v1.14.4',
    objectRef: {
      resource: 'certificates',
      namespace: 'apps',
      name,
      apiGroup: 'cert-manager.io',
      apiVersion: 'v1',
      subresource: 'status',
    },
    responseStatus: { metadata: {}, code: 200 },
    requestObject: {
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', lastTransitionTime: t }] },
    },
    responseObject: {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name, namespace: 'apps', uid: `uid-${i % 2_000}`, resourceVersion: String(1_000 + i), generation: 1 },
      spec: {
        secretName: `${name}-tls`,
        dnsNames: [`${name}.apps.example.com`],
        issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' },
      },
      status: {
        conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', lastTransitionTime: t }],
        notAfter: '2026-04-01T00:00:00Z',
        revision: i,
      },
    },
    requestReceivedTimestamp: t,
    stageTimestamp: t,
  } as unknown as AuditEvent;
}

/** Runs the real CLI, sampling its peak RSS from /proc until it exits. */
function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; seconds: number; peakRssMb: number; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [join(repoRoot(), 'services', 'cli', 'bin', 'crtrail.js'), ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let peak = 0;
    child.stderr.on('data', (d) => (stderr += d));
    const sample = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch {
        /* exited */
      }
    }, 50);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(sample);
      resolveRun({
        code: code ?? 1,
        seconds: (performance.now() - started) / 1000,
        peakRssMb: Math.round(peak),
        stderr,
      });
    });
  });
}

// What this starts itself it stops at the end, or its process never exits.
const startedRedis = (await ensureRedis(REDIS_URL, say)).started;
const startedEs = (await ensureElasticsearch(ES_URL, {}, say)).started;
const es = createEsClient({ url: ES_URL });
const prefix = `bench-export-${Date.now().toString(36)}`;
const alias = indexNames(prefix).alias;
const dir = mkdtempSync(join(tmpdir(), 'crtrail-bench-export-'));
try {
  await installTemplates(es, prefix);
  await es.indices.putSettings({ index: `${prefix}-changes-*`, settings: { refresh_interval: '-1' } }).catch(() => {});
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  const indexStart = performance.now();
  for (let from = 0; from < RECORDS; from += CHUNK) {
    const docs = [];
    for (let i = from; i < Math.min(RECORDS, from + CHUNK); i++) {
      const e = event(i);
      docs.push({
        id: `${CLUSTER}/${e.auditID}`,
        doc: buildRecord({
          cluster: CLUSTER,
          event: e,
          change: {
            ops: [{ op: 'replace', path: '/status/revision', old: i - 1, new: i }],
            paths: ['/status/revision'],
            patch: [{ op: 'replace', path: '/status/revision', value: i }],
            server_mutations: [],
            kind: 'status',
            baseline: 'known',
            dry_run: false,
            gap: false,
            state_hash: String(i),
            critical: false,
            critical_paths: [],
            drift: false,
          },
          actor: { kind: 'controller', name: e.user.username ?? '', tool: 'cert-manager' },
          object: e.responseObject as never,
          ingestedAt: Date.now(),
        }),
      });
    }
    head = sealRecords(
      head,
      CLUSTER,
      docs.map((d) => d.doc),
    );
    const stats = await bulkWrite(
      es,
      alias,
      docs.map((d) => ({ kind: 'create' as const, id: d.id, doc: d.doc })),
    );
    if (stats.rejected.length > 0) throw new Error(`bulk rejected: ${stats.rejected[0]!.reason}`);
    if ((from / CHUNK) % 25 === 0) say(`indexed ${from + docs.length}/${RECORDS}`);
  }
  await es.indices.putSettings({ index: `${prefix}-changes-*`, settings: { refresh_interval: '1s' } });
  await es.indices.refresh({ index: alias });
  const indexSeconds = (performance.now() - indexStart) / 1000;
  say(`indexed ${RECORDS} records in ${indexSeconds.toFixed(0)} s`);

  const env = { CRTRAIL_ES_URL: ES_URL, CRTRAIL_REDIS_URL: REDIS_URL, CRTRAIL_INDEX_PREFIX: prefix };
  const file = join(dir, 'export.ndjson');
  const exp = await runCli(
    ['export', '--since', '2000-01-01T00:00:00Z', '--until', 'now+1d', '--cluster', CLUSTER, '--out', file],
    env,
  );
  if (exp.code !== 0) throw new Error(`export failed: ${exp.stderr}`);
  const manifest = JSON.parse(readFileSync(`${file}.manifest.json`, 'utf8'));
  if (manifest.count !== RECORDS) throw new Error(`export wrote ${manifest.count} records, expected ${RECORDS}`);
  const bytes = statSync(file).size;
  say(`export: ${exp.seconds.toFixed(1)} s, peak RSS ${exp.peakRssMb} MB`);
  const ver = await runCli(['verify', file], env);
  if (ver.code !== 0) throw new Error(`verify failed: ${ver.stderr}`);
  say(`verify: ${ver.seconds.toFixed(1)} s, peak RSS ${ver.peakRssMb} MB`);
  // No worker sealed these (so Redis holds no head for them): this times the walk of the stored chain.
  const chain = await runCli(['verify', '--cluster', CLUSTER], env);
  if (chain.code !== 0) throw new Error(`verify --cluster failed: ${chain.stderr}`);
  say(`verify --cluster: ${chain.seconds.toFixed(1)} s, peak RSS ${chain.peakRssMb} MB`);

  const round = (n: number) => Math.round(n);
  const result = {
    records: RECORDS,
    file_mb: round(bytes / 1024 / 1024),
    export: {
      seconds: +exp.seconds.toFixed(1),
      records_per_s: round(RECORDS / exp.seconds),
      peak_rss_mb: exp.peakRssMb,
    },
    verify_file: {
      seconds: +ver.seconds.toFixed(1),
      records_per_s: round(RECORDS / ver.seconds),
      peak_rss_mb: ver.peakRssMb,
    },
    verify_cluster: {
      seconds: +chain.seconds.toFixed(1),
      records_per_s: round(RECORDS / chain.seconds),
      peak_rss_mb: chain.peakRssMb,
    },
    setup: { index_seconds: round(indexSeconds), index_docs_per_s: round(RECORDS / indexSeconds) },
    git: { commit: execSync('git rev-parse --short HEAD', { cwd: repoRoot() }).toString().trim() },
    at: new Date().toISOString(),
  };
  const out = join(repoRoot(), 'bench', 'results');
  writeFileSync(join(out, 'export-scale.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(
    join(out, 'export-scale.md'),
    [
      `# crtrail bench:export — ${RECORDS.toLocaleString('en')} records (${result.file_mb} MB NDJSON)`,
      '',
      '| step | seconds | records/s | peak RSS MB |',
      '|---|---|---|---|',
      `| \`crtrail export\` (PIT + search_after → NDJSON + manifest) | ${result.export.seconds} | ${result.export.records_per_s} | ${result.export.peak_rss_mb} |`,
      `| \`crtrail verify FILE\` (sha256 + every hash) | ${result.verify_file.seconds} | ${result.verify_file.records_per_s} | ${result.verify_file.peak_rss_mb} |`,
      `| \`crtrail verify --cluster\` (walk of the stored chain) | ${result.verify_cluster.seconds} | ${result.verify_cluster.records_per_s} | ${result.verify_cluster.peak_rss_mb} |`,
      '',
      `Setup: ${RECORDS} sealed records bulk-indexed in ${result.setup.index_seconds} s. Commit ${result.git.commit}, ${result.at}.`,
      '',
    ].join('\n'),
  );
  say(`wrote bench/results/export-scale.{json,md}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  await deletePrefix(es, prefix).catch(() => {});
  await es.close();
  for (const m of [startedEs, startedRedis]) if (m) await m.stop();
}
