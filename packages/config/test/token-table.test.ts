import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadApiserverAuth } from '../src/apiserver-auth.js';
import { loadEnv } from '../src/env.js';
import { TokenTable } from '../src/token-table.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'crtrail-tokens-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a malformed tokens file fails at load naming file:line', () => {
  const bad = join(dir, 'bad-tokens');
  writeFileSync(bad, '# comment\ngood-token prod-eu\n\nlonely-token\n');
  assert.throws(
    () => TokenTable.load(bad),
    (err: Error) => err.message.startsWith(`${bad}:4: expected "<token> <cluster>"`),
  );
  writeFileSync(bad, 'tok prod-eu\ntok staging\n');
  assert.throws(() => TokenTable.load(bad), new RegExp(`${bad}:2: this token is already listed on line 1`));
  writeFileSync(bad, 'tok bad/cluster\n');
  assert.throws(() => TokenTable.load(bad), new RegExp(`${bad}:1: cluster name`));
  assert.throws(
    () => loadApiserverAuth(loadEnv({ CRTRAIL_AUTH_TOKENS_FILE: join(dir, 'missing') })),
    /CRTRAIL_AUTH_TOKENS_FILE=.*missing/,
  );
});

test('comments and blank lines are skipped; each token names its cluster', () => {
  const file = join(dir, 'tokens');
  writeFileSync(file, '# token cluster\n\n  a-token prod-eu  \n#b-token staging\nc-token staging\n');
  const table = TokenTable.load(file);
  assert.equal(table.size, 2);
  assert.equal(table.clusterOf('a-token'), 'prod-eu');
  assert.equal(table.clusterOf('c-token'), 'staging');
  assert.equal(table.clusterOf('b-token'), undefined, 'a commented-out line is no token');
  assert.equal(table.clusterOf('a-toke'), undefined);
  assert.throws(() => TokenTable.parse('# only comments\n', 'empty'), /empty: no tokens/);
});
