import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, uniquePrefix } from '@crtrail/testkit';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { runCli } from './helpers/cli.js';
import { orderedEvents } from './fixtures/lifecycle.js';
import { validateEvent } from '@crtrail/audit';
import { demoStory } from '../services/cli/src/demo-story.js';

describe('replay: fails fast, names bad lines, waits for records', () => {
  let p: Pipeline;
  let dir: string;
  before(async () => {
    p = await startPipeline(uniquePrefix('replay'));
    dir = mkdtempSync(join(tmpdir(), 'crtrail-replay-'));
  });
  after(async () => {
    await p?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an unreachable webhook stops the replay at once, naming the cause and --url', async () => {
    const file = join(dir, 'one.ndjson');
    writeFileSync(file, `${JSON.stringify(orderedEvents()[0])}\n`);
    const port = await freePort();
    const run = await runCli(['replay', file, '--url', `http://127.0.0.1:${port}`]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /ECONNREFUSED/);
    assert.match(run.stderr, /--url/);
    assert.match(run.stderr, /not sent/);
    assert.doesNotMatch(run.stderr, /fetch failed/);
  });

  test('bad lines are named file:line and left out; the good events of their batch are sent; --wait sees the records', async () => {
    const events = orderedEvents();
    const writes = events.filter(
      (e) =>
        e.stage === 'ResponseComplete' &&
        ['create', 'update', 'patch', 'delete', 'deletecollection'].includes(String(e.verb)),
    );
    assert.ok(writes.length >= 3);
    const good = writes.slice(0, 3);
    const { level: _level, ...noLevel } = writes[3]!;
    const file = join(dir, 'mixed.ndjson');
    // line 1 good, line 2 not JSON, line 3 good, line 4 no `level`, line 5 good
    writeFileSync(
      file,
      [
        JSON.stringify(good[0]),
        '{"kind": "Event", oops',
        JSON.stringify(good[1]),
        JSON.stringify(noLevel),
        JSON.stringify(good[2]),
      ].join('\n') + '\n',
    );
    const cluster = 'replay-wait';
    // A URL as the kubeconfig has it (ending in /audit): the cluster is appended, not /audit twice.
    const run = await runCli(['replay', file, '--cluster', cluster, '--url', `${p.url}/audit`, '--wait', '120'], {
      CRTRAIL_ES_URL: p.env.CRTRAIL_ES_URL,
      CRTRAIL_INDEX_PREFIX: p.prefix,
    });
    assert.equal(run.code, 1, 'bad lines make the exit code 1');
    assert.match(run.stdout, /sent 3, accepted 3 \(3 custom-resource writes queued for records\)/);
    assert.match(run.stdout, /invalid events 1/);
    assert.match(run.stdout, /unparseable lines 1/);
    assert.match(run.stderr, /mixed\.ndjson:2: not JSON/);
    assert.match(run.stderr, /mixed\.ndjson:4\.level: required/);
    assert.match(run.stdout, /searchable: 3 of 3 custom-resource writes/);
    const ids = new Set(
      (await p.search({ term: { 'orchestrator.cluster.name': cluster } })).map((d) => d._source.event.id),
    );
    for (const e of good) assert.ok(ids.has(e.auditID), `record of ${String(e.auditID)}`);
  });

  test("a GKE export (gzip'd NDJSON LogEntries): converted, filed under --cluster, its bad lines named file:line", async () => {
    const entries = readFileSync(
      new URL('../packages/intake/test/fixtures/gke-entries-request-response.ndjson', import.meta.url),
      'utf8',
    )
      .trim()
      .split('\n');
    const file = join(dir, 'gke-export.ndjson.gz');
    // line 1 good, line 2 not JSON, line 3 an entry without insertId, line 4 good
    const { insertId: _id, ...noId } = JSON.parse(entries[2]!) as Record<string, unknown>;
    writeFileSync(file, gzipSync([entries[0], '{oops', JSON.stringify(noId), entries[1]].join('\n') + '\n'));
    const cluster = 'replay-gke';
    const run = await runCli(['replay', file, '--cluster', cluster, '--url', p.url, '--wait', '120'], {
      CRTRAIL_ES_URL: p.env.CRTRAIL_ES_URL,
      CRTRAIL_INDEX_PREFIX: p.prefix,
    });
    assert.equal(run.code, 1, 'bad lines make the exit code 1');
    assert.match(run.stdout, /sent 2, accepted 2 \(2 custom-resource writes queued for records\)/);
    assert.match(run.stdout, /unparseable lines 2/);
    assert.match(run.stderr, /gke-export\.ndjson\.gz:2: not valid JSON/);
    assert.match(run.stderr, /gke-export\.ndjson\.gz:3\.insertId: required string/);
    assert.match(run.stdout, /searchable: 2 of 2 custom-resource writes/);
    const docs = await p.search({ term: { 'orchestrator.cluster.name': cluster } });
    assert.deepEqual(
      docs.map((d) => d._source.kubernetes.audit.annotations['crtrail.dev/source']),
      ['gke', 'gke'],
    );
  });

  test('a URL naming the cluster (/audit/<name>) is used as it is', async () => {
    const file = join(dir, 'named.ndjson');
    const write = orderedEvents().find((e) => e.stage === 'ResponseComplete' && e.verb === 'create')!;
    writeFileSync(file, `${JSON.stringify(write)}\n`);
    const run = await runCli(['replay', file, '--url', `${p.url}/audit/named-in-url/`, '--wait', '120'], {
      CRTRAIL_ES_URL: p.env.CRTRAIL_ES_URL,
      CRTRAIL_INDEX_PREFIX: p.prefix,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await p.count({ term: { 'orchestrator.cluster.name': 'named-in-url' } }), 1);
  });
});

describe('demo: a story of the last hour that every README example can show', () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline(uniquePrefix('demo'));
  });
  after(async () => p?.close());

  test('its events are valid audit events of the last hour, and the records answer the Quick start commands', async () => {
    const now = Date.now();
    const story = demoStory(now);
    for (const e of story) {
      const checked = validateEvent(e);
      assert.ok(checked.ok, checked.ok ? '' : checked.reason);
      const t = Date.parse(String(e.stageTimestamp));
      assert.ok(t <= now && t > now - 3_600_000, `${String(e.stageTimestamp)} within the last hour`);
    }
    const env = { CRTRAIL_ES_URL: p.env.CRTRAIL_ES_URL, CRTRAIL_INDEX_PREFIX: p.prefix, NO_COLOR: '1' };
    const run = await runCli(['demo', '--url', p.url, '--cluster', 'demo'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`searchable: ${story.length} of ${story.length} custom-resource writes`));
    const recent = await runCli(['changes', '--cluster', 'demo', '--since', 'now-1h', '--json', '--all'], env);
    assert.equal(recent.stdout.trim().split('\n').length, story.length);
    const drift = await runCli(['changes', '--cluster', 'demo', '--critical', '--drift', '--json'], env);
    const drifted = drift.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(
      drifted.some(
        (d) => d.crtrail.actor.name === 'alice@example.com' && d.crtrail.change.paths.includes('/spec/dnsNames/1'),
      ),
      drift.stdout,
    );
    const failed = await runCli(['changes', '--cluster', 'demo', '--failed', '--json'], env);
    const denied = failed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      denied.map((d) => [d.crtrail.actor.name, d.kubernetes.audit.responseStatus.code]),
      [['mallory@example.com', 403]],
    );
    const verify = await runCli(['verify', '--cluster', 'demo'], env);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });
});
