import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../bin/crtrail.js', import.meta.url));
const cli = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

test('an unreachable service is one line naming it and its variable, no stack trace', () => {
  const dlq = cli(['dlq', 'list'], { CRTRAIL_REDIS_URL: 'redis://127.0.0.1:9' });
  assert.equal(dlq.code, 1);
  assert.match(dlq.stderr, /^crtrail: Redis at redis:\/\/127\.0\.0\.1:9 does not answer \(CRTRAIL_REDIS_URL\): .*ECONNREFUSED/m);
  assert.equal(dlq.stderr.trim().split('\n').length, 1, dlq.stderr);
  const changes = cli(['changes'], { CRTRAIL_ES_URL: 'http://127.0.0.1:9' });
  assert.equal(changes.code, 1);
  assert.match(changes.stderr, /cannot query Elasticsearch at http:\/\/127\.0\.0\.1:9 \(CRTRAIL_ES_URL\)/);
});

test('export into a folder that does not exist says so before anything is read', () => {
  const r = cli(['export', '--since', 'now-1h', '--until', 'now', '--out', '/nonexistent-crtrail-dir/x.ndjson'], { CRTRAIL_ES_URL: 'http://127.0.0.1:9' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--out \/nonexistent-crtrail-dir\/x\.ndjson: the folder \/nonexistent-crtrail-dir does not exist/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
});
