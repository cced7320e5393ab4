import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnv } from '@crtrail/config';
import { audienceFor, ClusterSecrets, loadIntakeAuth } from '../src/intake-auth.js';

test('a secrets file: "<secret> <cluster>" lines, several per cluster (rotation), errors by file:line', () => {
  const s = ClusterSecrets.parse('# comment\n\nk-1 shop\nk-2 shop\nk-3 lab\n', 'keys.txt');
  assert.deepEqual(s.of('shop'), ['k-1', 'k-2']);
  assert.deepEqual(s.of('nowhere'), []);
  assert.deepEqual(s.clusters(), ['shop', 'lab']);
  assert.throws(
    () => ClusterSecrets.parse('k-1\n', 'keys.txt'),
    /^ConfigError: keys\.txt:1: expected "<secret> <cluster>"/,
  );
  assert.throws(
    () => ClusterSecrets.parse('k-1 shop\nk-1 lab\n', 'keys.txt'),
    /keys\.txt:2: this secret is already listed on line 1/,
  );
  assert.throws(() => ClusterSecrets.parse('k-1 bad/name\n', 'keys.txt'), /keys\.txt:1: cluster name "bad\/name"/);
  assert.throws(() => ClusterSecrets.parse('# nothing\n', 'keys.txt'), /keys\.txt: no secrets/);
});

test('loadIntakeAuth: nothing configured = no intake; each variable checked and named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crtrail-intake-auth-'));
  try {
    const keys = join(dir, 'keys');
    writeFileSync(keys, 'k-1 shop\n');
    assert.deepEqual(loadIntakeAuth(loadEnv({})), {});
    const both = loadIntakeAuth(loadEnv({ CRTRAIL_FIREHOSE_ACCESS_KEYS_FILE: keys, CRTRAIL_PUBSUB_TOKENS_FILE: keys }));
    assert.deepEqual(
      [both.firehose?.of('shop'), both.pubsub?.tokens?.of('shop'), both.pubsub?.oidc],
      [['k-1'], ['k-1'], undefined],
    );
    const oidc = loadIntakeAuth(
      loadEnv({
        CRTRAIL_PUBSUB_AUDIENCE: 'https://c.example.com/intake/pubsub/{cluster}',
        CRTRAIL_PUBSUB_SERVICE_ACCOUNT: 'push@p.iam.gserviceaccount.com',
      }),
    ).pubsub?.oidc;
    assert.equal(oidc && audienceFor(oidc, 'shop'), 'https://c.example.com/intake/pubsub/shop');
    assert.equal(typeof oidc?.keys, 'function');
    assert.throws(
      () => loadIntakeAuth(loadEnv({ CRTRAIL_FIREHOSE_ACCESS_KEYS_FILE: join(dir, 'absent') })),
      /^ConfigError: CRTRAIL_FIREHOSE_ACCESS_KEYS_FILE=".*absent": ENOENT/,
    );
    assert.throws(
      () => loadIntakeAuth(loadEnv({ CRTRAIL_PUBSUB_AUDIENCE: 'x' })),
      /CRTRAIL_PUBSUB_AUDIENCE and CRTRAIL_PUBSUB_SERVICE_ACCOUNT must be set together/,
    );
    assert.throws(
      () => loadIntakeAuth(loadEnv({ CRTRAIL_PUBSUB_SERVICE_ACCOUNT: 'push@p.iam.gserviceaccount.com' })),
      /must be set together/,
    );
    assert.throws(
      () => loadIntakeAuth(loadEnv({ CRTRAIL_PUBSUB_JWKS_URL: 'http://127.0.0.1:1/jwks' })),
      /CRTRAIL_PUBSUB_JWKS_URL needs CRTRAIL_PUBSUB_AUDIENCE/,
    );
    assert.throws(
      () => loadEnv({ CRTRAIL_PUBSUB_SERVICE_ACCOUNT: 'not-an-email' }),
      /CRTRAIL_PUBSUB_SERVICE_ACCOUNT="not-an-email": an email address/,
    );
    assert.throws(() => loadEnv({ CRTRAIL_PUBSUB_JWKS_URL: 'not a url' }), /CRTRAIL_PUBSUB_JWKS_URL="not a url"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
