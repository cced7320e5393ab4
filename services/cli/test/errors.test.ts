import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../bin/crtrail.js', import.meta.url));
const cli = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

test('an unreachable service is one line naming it and its variable, no stack trace', () => {
  const dlq = cli(['dlq', 'list'], { CRTRAIL_REDIS_URL: 'redis://127.0.0.1:9' });
  assert.equal(dlq.code, 1);
  assert.match(
    dlq.stderr,
    /^crtrail: Redis at redis:\/\/127\.0\.0\.1:9 does not answer \(CRTRAIL_REDIS_URL\): .*ECONNREFUSED/m,
  );
  assert.equal(dlq.stderr.trim().split('\n').length, 1, dlq.stderr);
  const changes = cli(['changes'], { CRTRAIL_ES_URL: 'http://127.0.0.1:9' });
  assert.equal(changes.code, 1);
  assert.match(changes.stderr, /cannot query Elasticsearch at http:\/\/127\.0\.0\.1:9 \(CRTRAIL_ES_URL\)/);
});

test('export into a folder that does not exist says so before anything is read', () => {
  const r = cli(['export', '--since', 'now-1h', '--until', 'now', '--out', '/nonexistent-crtrail-dir/x.ndjson'], {
    CRTRAIL_ES_URL: 'http://127.0.0.1:9',
  });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /--out \/nonexistent-crtrail-dir\/x\.ndjson: the folder \/nonexistent-crtrail-dir does not exist/,
  );
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
});

test('failureOf: a CliError gives its status and line, a reported one no line, anything else 1', async () => {
  const { CliError, EXIT, failedAsReported, failureOf, nothingChecked } = await import('../src/errors.js');
  assert.deepEqual(failureOf(new CliError('no such key')), { line: 'no such key', exitCode: EXIT.failed });
  assert.deepEqual(failureOf(nothingChecked('no records')), { line: 'no records', exitCode: 2 });
  assert.deepEqual(failureOf(failedAsReported('BROKEN: seq 3 missing')), { line: undefined, exitCode: 1 });
  // An error that merely looks like it carries a status is not trusted with one.
  assert.deepEqual(failureOf(Object.assign(new Error('ECONNRESET'), { exitCode: 7 })), {
    line: 'ECONNRESET',
    exitCode: 1,
  });
  assert.deepEqual(failureOf('plain string'), { line: 'plain string', exitCode: 1 });
});

test('exit statuses: verify without a target is 2, a bad config file 1 with its own lines only, an existing key 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crtrail-errors-'));
  try {
    const verify = cli(['verify']);
    assert.equal(verify.code, 2);
    assert.equal(
      verify.stderr,
      'crtrail: give a FILE to check an export, or --cluster NAME to check the stored chain\n',
    );

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'nosuchkey: 1\n');
    const check = cli(['config', 'check', bad]);
    assert.equal(check.code, 1);
    assert.match(check.stderr, /nosuchkey/);
    assert.doesNotMatch(check.stderr, /^crtrail:/m, 'the errors were the report: no extra line');

    const key = join(dir, 'signing.pem');
    assert.equal(cli(['keygen', '--out', key]).code, 0);
    const again = cli(['keygen', '--out', key]);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, `crtrail: ${key} exists (pass --force to overwrite)\n`);

    const timeline = cli(['changes', '--timeline'], { CRTRAIL_ES_URL: 'http://127.0.0.1:9' });
    assert.equal(timeline.code, 1);
    assert.equal(timeline.stderr, 'crtrail: --timeline needs --name (the object whose history to show)\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
