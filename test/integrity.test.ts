import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniquePrefix, testEsUrl, testRedisUrl } from '@crtrail/testkit';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { eventList } from './helpers/events.js';
import { haBatches, NAME, orderedEvents, UID } from './fixtures/lifecycle.js';
import { runCli, spawnCli } from './helpers/cli.js';
import type { LooseJson } from './helpers/loose.js';
import type { Op } from '@crtrail/diff';

const OBJECTS = 5;
/** The lifecycle scenario once per object: 5 InferenceServices, 14 records each. */
function manyObjects(): Array<LooseJson> {
  const all: Array<LooseJson> = [];
  for (let i = 0; i < OBJECTS; i++) {
    const text = JSON.stringify(orderedEvents())
      .replaceAll(`"${NAME}"`, `"${NAME}-${i}"`)
      .replaceAll(`/${NAME}"`, `/${NAME}-${i}"`)
      .replaceAll(`/${NAME}/`, `/${NAME}-${i}/`)
      .replaceAll(UID, `${UID.slice(0, -1)}${i}`);
    for (const e of JSON.parse(text) as Array<LooseJson>) all.push({ ...e, auditID: `${e.auditID}-${i}` });
  }
  return all;
}

const CLUSTER = 'chain-a';
const RECORDS = OBJECTS * 14;

describe('tamper-evident history: hash chain, signed exports, verify', () => {
  let p: Pipeline;
  let dir: string;
  let env: Record<string, string>;
  let key: string;
  const workers: Array<ReturnType<typeof spawnCli>> = [];

  before(async () => {
    p = await startPipeline(uniquePrefix('integrity'), { workers: 0 });
    dir = mkdtempSync(join(tmpdir(), 'crtrail-integrity-'));
    env = { CRTRAIL_INDEX_PREFIX: p.prefix, CRTRAIL_ES_URL: testEsUrl(), CRTRAIL_REDIS_URL: testRedisUrl() };
    // 3 worker processes, 4 jobs each at a time, fed small batches shuffled as two HA apiservers
    // deliver them and posted concurrently: up to 12 jobs seal records of one cluster at once.
    for (let i = 0; i < 3; i++) {
      workers.push(
        spawnCli(['up', '--worker-only'], {
          ...env,
          CRTRAIL_WORKER_PORT: '0',
          CRTRAIL_WORKER_CONCURRENCY: '4',
          CRTRAIL_LOG_LEVEL: 'warn',
        }),
      );
    }
    const batches = haBatches(manyObjects(), 7, 4);
    for (let i = 0; i < batches.length; i += 8) {
      await Promise.all(
        batches.slice(i, i + 8).map(async (b) => {
          const res = await fetch(`${p.url}/audit/${CLUSTER}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: eventList(b),
          });
          assert.equal(res.status, 200, await res.text());
        }),
      );
    }
    await p.idle();
    key = join(dir, 'signing.pem');
    const gen = await runCli(['keygen', '--out', key]);
    assert.equal(gen.code, 0, gen.stderr);
  });

  after(async () => {
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    await p?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('3 worker processes in parallel: the chain is gap-free, every link checks out', async () => {
    const docs = await p.search({ term: { 'orchestrator.cluster.name': CLUSTER } }, 1000);
    assert.equal(docs.length, RECORDS);
    const seqs = docs.map((d) => d._source.crtrail.integrity.seq as number).sort((a, b) => a - b);
    assert.deepEqual(
      seqs,
      Array.from({ length: RECORDS }, (_, i) => i + 1),
    );
    const run = await runCli(['verify', '--cluster', CLUSTER], env);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout, new RegExp(`INTACT cluster ${CLUSTER}`));
    assert.match(run.stdout, new RegExp(`${RECORDS} records`));
    assert.match(run.stdout, new RegExp(`head: matches Redis \\(seq ${RECORDS}\\)`));
    // Every update/patch of the scenario names its predecessor, whatever the delivery order was.
    const checked = Number(/old values: (\d+) records checked/.exec(run.stdout)?.[1]);
    assert.ok(checked >= OBJECTS * 8, `${checked} records' old values checked`);
  });

  test('replaying the same events adds no record and no seq', async () => {
    const res = await fetch(`${p.url}/audit/${CLUSTER}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: eventList(manyObjects()),
    });
    assert.equal(res.status, 200);
    await p.idle();
    assert.equal(await p.count({ term: { 'orchestrator.cluster.name': CLUSTER } }), RECORDS);
    const run = await runCli(['verify', '--cluster', CLUSTER], env);
    assert.equal(run.code, 0, run.stderr);
  });

  const exportTo = async (name: string, extra: string[] = [], signed = true) => {
    const out = join(dir, name);
    const run = await runCli(
      ['export', '--since', '2000-01-01T00:00:00Z', '--until', 'now+1d', '--cluster', CLUSTER, '--out', out, ...extra],
      signed ? { ...env, CRTRAIL_SIGNING_KEY: key } : env,
    );
    assert.equal(run.code, 0, run.stderr);
    return out;
  };
  const verify = (file: string, ...extra: string[]) =>
    runCli(['verify', file, '--public-key', `${key}.pub`, ...extra], env);

  test('a signed NDJSON export of the scenario verifies', async () => {
    const file = await exportTo('all.ndjson');
    const manifest = JSON.parse(readFileSync(`${file}.manifest.json`, 'utf8'));
    assert.equal(manifest.count, RECORDS);
    assert.equal(manifest.clusters[CLUSTER].first.seq, 1);
    assert.equal(manifest.clusters[CLUSTER].last.seq, RECORDS);
    assert.deepEqual(manifest.clusters[CLUSTER].gaps, []);
    assert.equal(manifest.signature.algorithm, 'Ed25519');
    assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, RECORDS);
    const run = await verify(file);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /INTACT/);
    assert.match(run.stdout, /signature: valid.*trusted key/);
  });

  test('tampering with an export is caught, with the record and the reason', async () => {
    const file = await exportTo('tamper.ndjson');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const variant = (name: string, content: string) => {
      const f = join(dir, name);
      writeFileSync(f, content);
      copyFileSync(`${file}.manifest.json`, `${f}.manifest.json`);
      return f;
    };

    // One changed byte: a username, still valid JSON.
    const i = lines.findIndex((l) => l.includes('"alice@example.com"'));
    assert.ok(i >= 0);
    const edited = [...lines];
    edited[i] = edited[i]!.replace('"alice@example.com"', '"alicE@example.com"');
    let run = await verify(variant('edited.ndjson', `${edited.join('\n')}\n`));
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`BROKEN .*edited: line ${i + 1} \\(seq ${i + 1}\\).*edited`));
    assert.match(run.stderr, /sha256 .* differs from the manifest/);

    // A deleted line.
    run = await verify(variant('deleted.ndjson', `${[...lines.slice(0, 9), ...lines.slice(10)].join('\n')}\n`));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /BROKEN .*missing: seq 10 missing/);
    assert.match(run.stderr, new RegExp(`${RECORDS - 1} records, the manifest says ${RECORDS}`));

    // A swapped pair of lines.
    const swapped = [...lines];
    [swapped[20], swapped[21]] = [swapped[21]!, swapped[20]!];
    run = await verify(variant('swapped.ndjson', `${swapped.join('\n')}\n`));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /BROKEN .*reordered: line 22 \(seq 21\): comes after seq 22/);

    // A forged manifest that matches the edited file (sha256 recomputed) but was not re-signed.
    const forged = variant('forged.ndjson', `${edited.join('\n')}\n`);
    const m = JSON.parse(readFileSync(`${forged}.manifest.json`, 'utf8'));
    const { createHash } = await import('node:crypto');
    m.file.sha256 = createHash('sha256').update(readFileSync(forged)).digest('hex');
    m.file.bytes = readFileSync(forged).length;
    writeFileSync(`${forged}.manifest.json`, JSON.stringify(m));
    run = await verify(forged);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /bad signature/);
    // … and re-signed with another key: not the trusted one.
    const other = join(dir, 'other.pem');
    assert.equal((await runCli(['keygen', '--out', other])).code, 0);
    const { signManifest } = await import('@crtrail/integrity');
    writeFileSync(`${forged}.manifest.json`, JSON.stringify(signManifest(m, readFileSync(other))));
    run = await verify(forged);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /not by the trusted key/);
  });

  test('a filtered export explains its gaps; a CSV export checks its links', async () => {
    const file = await exportTo('one.ndjson', ['--name', `${NAME}-2`]);
    const manifest = JSON.parse(readFileSync(`${file}.manifest.json`, 'utf8'));
    assert.equal(
      manifest.count,
      await p.count({
        bool: {
          filter: [
            { term: { 'orchestrator.cluster.name': CLUSTER } },
            { term: { 'kubernetes.audit.objectRef.name': `${NAME}-2` } },
          ],
        },
      }),
    );
    assert.ok(manifest.count >= 12);
    assert.equal(manifest.filters.name, `${NAME}-2`);
    assert.ok(manifest.clusters[CLUSTER].gaps.length > 0);
    let run = await verify(file);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /filtered gaps/);

    const csv = await exportTo('all.csv', ['--format', 'csv']);
    const rows = readFileSync(csv, 'utf8').trim().split('\n');
    assert.match(rows[0]!, /^cluster,seq,hash,prev_hash,timestamp/);
    assert.ok(rows.length > RECORDS, 'one row per changed field');
    run = await verify(csv);
    assert.equal(run.code, 0, run.stderr);
    // A row's seq changed: caught (and the checksum no longer matches).
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, readFileSync(csv, 'utf8').replace(`${CLUSTER},5,`, `${CLUSTER},6,`));
    copyFileSync(`${csv}.manifest.json`, `${bad}.manifest.json`);
    run = await verify(bad);
    assert.equal(run.code, 1);
  });

  test('an unsigned export verifies without a key; a missing manifest is a usage error', async () => {
    const file = await exportTo('unsigned.ndjson', [], false);
    let run = await runCli(['verify', file], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /unsigned/);
    run = await runCli(['verify', file, '--public-key', `${key}.pub`], env);
    assert.equal(run.code, 1, 'a trusted key demands a signature');
    assert.match(run.stderr, /not signed/);
    run = await runCli(['verify', join(dir, 'nope.ndjson')], env);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /no such file/);
    run = await runCli(['export', '--since', 'yesterday', '--until', 'now', '--out', join(dir, 'x')], env);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /ISO time/);
  });

  test('Redis loses the chain head (a restart without persistence): the chain continues from the store', async () => {
    const cluster = 'chain-b';
    const post = async (events: unknown[]) => {
      const res = await fetch(`${p.url}/audit/${cluster}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: eventList(events),
      });
      assert.equal(res.status, 200);
      await p.idle();
    };
    const all = manyObjects();
    await post(all.filter((e) => e.auditID.endsWith('-0')));
    assert.equal(await p.redis.del(`${p.prefix}:chain:${cluster}`), 1);
    await post(all.filter((e) => e.auditID.endsWith('-1')));
    const docs = await p.search({ term: { 'orchestrator.cluster.name': cluster } }, 1000);
    assert.equal(docs.length, 28);
    assert.deepEqual(
      docs.map((d) => d._source.crtrail.integrity.seq as number).sort((a, b) => a - b),
      Array.from({ length: 28 }, (_, i) => i + 1),
    );
    const run = await runCli(['verify', '--cluster', cluster], env);
    assert.equal(run.code, 0, run.stderr);
  });

  test('records edited or deleted in Elasticsearch: verify --cluster names them', async () => {
    const alias = `${p.prefix}-changes`;
    const docs = await p.search({ term: { 'orchestrator.cluster.name': CLUSTER } }, 1000);
    const bySeq = new Map(docs.map((d) => [d._source.crtrail.integrity.seq as number, d]));
    const backing = Object.keys(await p.es.indices.get({ index: alias }))[0]!;

    // A username changed.
    const seven = bySeq.get(7)!;
    await p.es.update({
      index: backing,
      id: seven._id,
      doc: { kubernetes: { audit: { user: { username: 'mallory' } } } },
      refresh: true,
    });
    let run = await runCli(['verify', '--cluster', CLUSTER], env);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      new RegExp(`BROKEN cluster ${CLUSTER}: edited: _id ${seven._id} \\(seq 7\\): content does not match its hash`),
    );

    // A changed value in the diff (not chained itself): checked against the chained response body.
    const withOps = docs.find(
      (d) =>
        d._source.event.outcome === 'success' &&
        d._source.crtrail.change.ops.some((o: Op) => o.op === 'replace') &&
        d._source.event.action !== 'delete' &&
        d._source.crtrail.integrity.seq > 7,
    )!;
    const ops = withOps._source.crtrail.change.ops.map((o: Op) => (o.op === 'replace' ? { ...o, new: 'forged' } : o));
    await p.es.update({ index: backing, id: withOps._id, doc: { crtrail: { change: { ops } } }, refresh: true });
    run = await runCli(['verify', '--cluster', CLUSTER], env);
    assert.match(
      run.stderr,
      new RegExp(`ops-mismatch: _id ${withOps._id} \\(seq ${withOps._source.crtrail.integrity.seq}\\)`),
    );

    // A forged old value: checked against the predecessor's (chained) stored state.
    const withOld = docs.find(
      (d) =>
        d._id !== withOps._id &&
        d._source.crtrail.change.baseline === 'known' &&
        d._source.crtrail.change.prev_state_hash &&
        d._source.crtrail.change.ops.some((o: Op) => o.op === 'replace'),
    )!;
    const forgedOld = withOld._source.crtrail.change.ops.map((o: Op) =>
      o.op === 'replace' ? { ...o, old: 'forged-old' } : o,
    );
    await p.es.update({
      index: backing,
      id: withOld._id,
      doc: { crtrail: { change: { ops: forgedOld } } },
      refresh: true,
    });
    run = await runCli(['verify', '--cluster', CLUSTER], env);
    assert.match(
      run.stderr,
      new RegExp(`ops-mismatch: _id ${withOld._id} \\(seq \\d+\\): .*old value differs from its predecessor`),
    );

    // A record deleted, in the middle and at the end.
    const twelve = bySeq.get(12)!;
    await p.es.delete({ index: backing, id: twelve._id, refresh: true });
    await p.es.delete({ index: backing, id: bySeq.get(RECORDS)!._id, refresh: true });
    run = await runCli(['verify', '--cluster', CLUSTER], env);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /missing: seq 12 missing/);
    assert.match(run.stderr, new RegExp(`missing: seq ${RECORDS} missing at the end of the chain`));

    // --since starts the walk later: the edit at seq 7 is then out of scope, the deletions are not.
    run = await runCli(['verify', '--cluster', CLUSTER, '--since', 'now-100y', '--json'], env);
    const report = JSON.parse(run.stdout);
    assert.equal(report.ok, false);
  });
});
