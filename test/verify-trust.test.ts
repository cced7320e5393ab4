import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publicFixtureFiles, testEsUrl, testRedisUrl, uniquePrefix } from '@crtrail/testkit';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { eventList, LIFECYCLE_RECORDS, postLifecycle } from './helpers/events.js';
import { haBatches, orderedEvents } from './fixtures/lifecycle.js';
import { runCli } from './helpers/cli.js';
import type { StoredDoc } from './helpers/loose.js';
import type { Op } from '@crtrail/diff';

const CLUSTER = 'trust-a';
const SAMPLES = 'trust-samples';
/** A cluster whose records are all deleted: that is tampering, not "nothing to check". */
const GONE = 'trust-gone';
/** The lifecycle delivered out of order, as two HA apiservers do: records repaired in place after a late event. */
const SHUFFLED = 'trust-shuffled';

/** A TCP port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

type Doc = StoredDoc;

describe('verify never says INTACT when it should not', () => {
  let p: Pipeline;
  let dir: string;
  let env: Record<string, string>;
  let backing: string;

  before(async () => {
    p = await startPipeline(uniquePrefix('trust'));
    dir = mkdtempSync(join(tmpdir(), 'crtrail-trust-'));
    env = { CRTRAIL_INDEX_PREFIX: p.prefix, CRTRAIL_ES_URL: testEsUrl(), CRTRAIL_REDIS_URL: testRedisUrl() };
    await postLifecycle(p.url, CLUSTER);
    await postLifecycle(p.url, GONE);
    const replay = await runCli([
      'replay',
      ...publicFixtureFiles(),
      '--cluster',
      SAMPLES,
      '--url',
      p.url,
      '--batch',
      '50',
    ]);
    assert.equal(replay.code, 0, replay.stderr);
    for (const seed of [3, 11]) {
      for (const b of haBatches(orderedEvents(), seed, 2)) {
        const res = await fetch(`${p.url}/audit/${SHUFFLED}-${seed}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: eventList(b),
        });
        assert.equal(res.status, 200, await res.text());
      }
    }
    await p.idle();
    backing = Object.keys(await p.es.indices.get({ index: `${p.prefix}-changes` }))[0]!;
  });

  after(async () => {
    await p?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const verify = (...args: string[]) => runCli(['verify', ...args], env);
  const docs = async (cluster = CLUSTER): Promise<Doc[]> =>
    p.search({ term: { 'orchestrator.cluster.name': cluster } }, 1000);

  /** Edits one stored record, runs verify --cluster, and puts the record back as it was. */
  async function withEdit(doc: Doc, edit: Record<string, unknown>) {
    await p.es.update({ index: backing, id: doc._id, doc: edit, refresh: true });
    try {
      return await verify('--cluster', CLUSTER);
    } finally {
      await p.es.index({ index: backing, id: doc._id, document: doc._source, refresh: true });
    }
  }

  test('an untouched chain is INTACT (exit 0), every derived field recomputed — the lifecycle and the public samples', async () => {
    const all = await docs();
    assert.equal(all.length, LIFECYCLE_RECORDS);
    assert.ok(
      all.every((d) => /^[0-9a-f]{64}$/.test(d._source.crtrail.config_digest)),
      'every record chains its configuration digest',
    );
    assert.ok(
      all.some((d) => d._source.crtrail.change.critical === true),
      'the scenario has a critical change',
    );
    assert.ok(
      all.some((d) => d._source.crtrail.change.drift === true),
      'the scenario has a drift',
    );
    let run = await verify('--cluster', CLUSTER);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout, new RegExp(`^INTACT cluster ${CLUSTER}\\n`));
    assert.match(run.stdout, new RegExp(`derived fields: ${LIFECYCLE_RECORDS} records recomputed in full`));
    // Real apiserver logs, and out-of-order deliveries whose records were repaired in place: no false alarm.
    for (const cluster of [SAMPLES, `${SHUFFLED}-3`, `${SHUFFLED}-11`]) {
      const stored = await docs(cluster);
      assert.ok(stored.length > 0, cluster);
      run = await verify('--cluster', cluster, '--json');
      assert.equal(run.code, 0, run.stderr + run.stdout);
      const report = JSON.parse(run.stdout);
      assert.equal(report.ok, true, report.problems.join('\n'));
      assert.equal(report.records, stored.length);
      assert.deepEqual(report.unchecked.derived, {}, cluster);
    }
  });

  test('a typo in --cluster, an empty --since window: exit 2, the known clusters named', async () => {
    let run = await verify('--cluster', 'trust-aa');
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.doesNotMatch(run.stdout, /INTACT/);
    assert.match(run.stderr, /no records of cluster trust-aa \(known clusters: .*trust-a\b/);
    assert.match(run.stderr, new RegExp(SAMPLES));
    run = await verify('--cluster', CLUSTER, '--since', 'now+1d');
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stderr, new RegExp(`no records of cluster ${CLUSTER} since now\\+1d`));
    // Every record of a cluster deleted: the chain head in Redis still counts them — broken, not empty.
    const gone = await docs(GONE);
    assert.equal(gone.length, LIFECYCLE_RECORDS);
    for (const d of gone) await p.es.delete({ index: backing, id: d._id, refresh: true });
    run = await verify('--cluster', GONE);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`^BROKEN cluster ${GONE}: missing: seqs 1–${LIFECYCLE_RECORDS} missing at the end of the chain`),
    );
  });

  test('Elasticsearch or Redis unreachable: exit 2 (not "broken"), naming the service and the variable', async () => {
    const port = await closedPort();
    let run = await runCli(['verify', '--cluster', CLUSTER], { ...env, CRTRAIL_ES_URL: `http://127.0.0.1:${port}` });
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`Elasticsearch at http://127\\.0\\.0\\.1:${port} does not answer \\(CRTRAIL_ES_URL\\)`),
    );
    run = await runCli(['verify', '--cluster', CLUSTER], { ...env, CRTRAIL_REDIS_URL: `redis://127.0.0.1:${port}` });
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port} does not answer \\(CRTRAIL_REDIS_URL\\)`),
    );
  });

  test('a critical change hidden in its searchable summary (critical, critical_paths, paths, text): exit 1, each field named', async () => {
    const critical = (await docs()).find((d) => d._source.crtrail.change.critical === true)!;
    const seq = critical._source.crtrail.integrity.seq;
    const change = critical._source.crtrail.change;
    const run = await withEdit(critical, {
      crtrail: { change: { critical: false, critical_paths: [], paths: [], text: '' } },
    });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`^BROKEN cluster ${CLUSTER}: edited: _id ${critical._id} \\(seq ${seq}\\): crtrail\\.change\\.`),
    );
    assert.match(
      run.stderr,
      new RegExp(`\\(seq ${seq}\\): crtrail\\.change\\.paths edited \\(stored \\[\\], recomputed \\[`),
    );
    assert.match(run.stderr, new RegExp(`\\(seq ${seq}\\): crtrail\\.change\\.text edited`));
    assert.match(
      run.stderr,
      new RegExp(`\\(seq ${seq}\\): crtrail\\.change\\.critical edited \\(stored false, recomputed true\\)`),
    );
    assert.match(
      run.stderr,
      new RegExp(
        `\\(seq ${seq}\\): crtrail\\.change\\.critical_paths edited \\(stored \\[\\], recomputed \\["${change.critical_paths[0].replaceAll('/', '\\/')}`,
      ),
    );
    // Back as it was: intact again.
    assert.equal((await verify('--cluster', CLUSTER)).code, 0);
  });

  test('the critical op itself removed, its summary made consistent: the ops are recomputed, exit 1', async () => {
    const critical = (await docs()).find(
      (d) => d._source.crtrail.change.critical === true && d._source.crtrail.change.baseline === 'known',
    )!;
    const change = critical._source.crtrail.change;
    const ops = change.ops.filter((o: Op) => !change.critical_paths.includes(o.path));
    assert.ok(ops.length < change.ops.length);
    const paths = [...new Set(ops.map((o: Op) => o.path))].sort();
    const run = await withEdit(critical, {
      crtrail: {
        change: {
          ops,
          paths,
          patch: ops.map((o: Op) => ({ op: o.op, path: o.path, value: o.new })),
          critical: false,
          critical_paths: [],
          text: '',
        },
      },
    });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      new RegExp(
        `_id ${critical._id} \\(seq \\d+\\): crtrail\\.change\\.ops edited \\(stored ${ops.length} ops, recomputed ${change.ops.length} ops \\(.*${change.critical_paths[0]}.* left out\\)\\)`,
      ),
    );
  });

  test('kind, drift, actor.kind, actor.tool edited: exit 1, each named with both values', async () => {
    const all = await docs();
    const spec = all.find((d) => d._source.crtrail.change.kind === 'spec')!;
    let run = await withEdit(spec, { crtrail: { change: { kind: 'status' } } });
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      new RegExp(`_id ${spec._id} \\(seq \\d+\\): crtrail\\.change\\.kind edited \\(stored status, recomputed spec\\)`),
    );

    const drift = all.find((d) => d._source.crtrail.change.drift === true)!;
    run = await withEdit(drift, { crtrail: { change: { drift: false } } });
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      new RegExp(
        `_id ${drift._id} \\(seq \\d+\\): crtrail\\.change\\.drift edited \\(stored false, recomputed true\\)`,
      ),
    );

    const human = all.find((d) => d._source.crtrail.actor.kind === 'human')!;
    run = await withEdit(human, { crtrail: { actor: { kind: 'controller' } } });
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      new RegExp(
        `_id ${human._id} \\(seq \\d+\\): crtrail\\.actor\\.kind edited \\(stored controller, recomputed human\\)`,
      ),
    );
    run = await withEdit(human, { crtrail: { actor: { tool: 'argocd' } } });
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      new RegExp(
        `_id ${human._id} \\(seq \\d+\\): crtrail\\.actor\\.tool edited \\(stored argocd, recomputed ${human._source.crtrail.actor.tool}\\)`,
      ),
    );

    // A patch's server mutations: its document applied to its predecessor's state, against what was stored.
    const patch = all.find(
      (d) =>
        d._source.event.action === 'patch' &&
        ['json', 'merge'].includes(d._source.crtrail.change.patch_type) &&
        d._source.crtrail.change.baseline === 'known',
    )!;
    run = await withEdit(patch, {
      crtrail: { change: { server_mutations: [{ op: 'replace', path: '/spec/forged', new: 1 }] } },
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`_id ${patch._id} \\(seq \\d+\\): crtrail\\.change\\.server_mutations edited`));

    // The baseline downgraded to skip the old-value check: tied to prev_state_hash, caught.
    const known = all.find(
      (d) => d._source.crtrail.change.baseline === 'known' && d._source.crtrail.change.prev_state_hash,
    )!;
    run = await withEdit(known, { crtrail: { change: { baseline: 'unknown' } } });
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      new RegExp(
        `_id ${known._id} \\(seq \\d+\\): crtrail\\.change\\.baseline edited \\(stored unknown, recomputed known\\)`,
      ),
    );
  });

  test('another configuration: its records are counted "not checkable", never passed silently; given it, all are checked', async () => {
    const other = join(dir, 'other.yaml');
    writeFileSync(
      other,
      'critical:\n  - group: serving.kserve.io\n    kind: InferenceService\n    paths: [spec.predictor.minReplicas]\n',
    );
    const same = join(dir, 'same.yaml');
    writeFileSync(same, '{}\n');
    let run = await verify('--cluster', CLUSTER, '--config', other);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^INTACT cluster trust-a \(some derived fields not checkable: see below\)/);
    assert.match(
      run.stdout,
      new RegExp(`NOT CHECKED in part: ${LIFECYCLE_RECORDS} records: configuration [0-9a-f]{16}… not given`),
    );
    run = await verify('--cluster', CLUSTER, '--config', other, '--config', same);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`derived fields: ${LIFECYCLE_RECORDS} records recomputed in full`));
    run = await verify('--cluster', CLUSTER, '--config', join(dir, 'nope.yaml'));
    assert.equal(run.code, 2);
  });

  test('exports: derived fields edited in the file are caught even with a recomputed checksum; an empty export and a private key are exit 2', async () => {
    const file = join(dir, 'all.ndjson');
    const key = join(dir, 'signing.pem');
    assert.equal((await runCli(['keygen', '--out', key])).code, 0);
    let run = await runCli(
      ['export', '--since', '2000-01-01T00:00:00Z', '--until', 'now+1d', '--cluster', CLUSTER, '--out', file],
      { ...env, CRTRAIL_SIGNING_KEY: key },
    );
    assert.equal(run.code, 0, run.stderr);
    run = await verify(file, '--public-key', `${key}.pub`);
    assert.equal(run.code, 0, run.stderr);

    // The export carries the configuration its records were written with: an auditor given another still checks every field.
    const manifest0 = JSON.parse(readFileSync(`${file}.manifest.json`, 'utf8'));
    assert.deepEqual(Object.keys(manifest0.configurations), [(await docs())[0]!._source.crtrail.config_digest]);
    const other = join(dir, 'auditor.yaml');
    writeFileSync(other, 'actors:\n  controllers: ["^nobody$"]\n');
    run = await verify(file, '--public-key', `${key}.pub`, '--config', other);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(
        `derived fields: ${LIFECYCLE_RECORDS} records recomputed in full \\(configuration [0-9a-f]{16}…, [0-9a-f]{16}… \\(from the manifest\\)\\)`,
      ),
    );

    run = await verify(file, '--public-key', key);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stderr, /this is a private key; pass the \.pub file/);

    // An unsigned export whose manifest the forger rewrites too: only the recomputation catches it.
    const unsigned = join(dir, 'unsigned.ndjson');
    run = await runCli(
      ['export', '--since', '2000-01-01T00:00:00Z', '--until', 'now+1d', '--cluster', CLUSTER, '--out', unsigned],
      env,
    );
    assert.equal(run.code, 0, run.stderr);
    const lines = readFileSync(unsigned, 'utf8').trim().split('\n');
    const i = lines.findIndex((l) => JSON.parse(l).crtrail.change.critical === true);
    const rec = JSON.parse(lines[i]!);
    rec.crtrail.change.critical = false;
    rec.crtrail.change.critical_paths = [];
    lines[i] = JSON.stringify(rec);
    const forged = `${lines.join('\n')}\n`;
    writeFileSync(unsigned, forged);
    const manifest = JSON.parse(readFileSync(`${unsigned}.manifest.json`, 'utf8'));
    manifest.file.sha256 = createHash('sha256').update(forged).digest('hex');
    manifest.file.bytes = Buffer.byteLength(forged);
    writeFileSync(`${unsigned}.manifest.json`, JSON.stringify(manifest));
    run = await verify(unsigned, '--config', other);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      new RegExp(
        `^BROKEN ${unsigned.replaceAll('.', '\\.')}: edited: line ${i + 1} \\(seq ${rec.crtrail.integrity.seq}\\): crtrail\\.change\\.critical edited \\(stored false, recomputed true\\)`,
      ),
    );
    assert.match(run.stderr, /crtrail\.change\.critical_paths edited/);
    // The manifest's configuration rewritten to match the forgery (no critical rules): it no longer hashes to the chained digest.
    const [digest] = Object.keys(manifest.configurations);
    manifest.configurations[digest!].critical = [];
    writeFileSync(`${unsigned}.manifest.json`, JSON.stringify(manifest));
    run = await verify(unsigned, '--config', other);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /manifest: configuration [0-9a-f]{16}… is not the one its digest names \(edited\)/);

    // A window with no records: the export is empty, and so is there nothing to check.
    const empty = join(dir, 'empty.ndjson');
    run = await runCli(
      [
        'export',
        '--since',
        '2000-01-01T00:00:00Z',
        '--until',
        '2000-01-02T00:00:00Z',
        '--cluster',
        CLUSTER,
        '--out',
        empty,
      ],
      env,
    );
    assert.equal(run.code, 0, run.stderr);
    run = await verify(empty);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stderr, /holds no records .*nothing to check/);
  });
});
