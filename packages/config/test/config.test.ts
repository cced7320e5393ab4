import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigText, defaultConfig, loadEnv, ConfigError } from '../src/index.js';

test('a typo in the config names the key and its line', () => {
  const r = checkConfigText(
    [
      'actors:',
      '  tools:',
      '    - tool: mytool',
      '      useragent: "^mytool/"',
      'critcal:',
      '  - group: a',
      '    paths: [spec.x]',
    ].join('\n'),
    'crtrail.yaml',
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.errors.sort(), [
    'crtrail.yaml:4: actors.tools.0.useragent: unknown key',
    'crtrail.yaml:5: critcal: unknown key',
  ]);
});

test('type errors, bad regexes and missing keys are reported with their line', () => {
  const r = checkConfigText(
    [
      'critical:',
      '  - group: a',
      '    paths: spec.x',
      'redaction:',
      '  secretLikeKinds: ["(unclosed"]',
      '  paths:',
      '    - kind: X',
      '      paths: [spec.y]',
    ].join('\n'),
    'c.yaml',
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  const text = r.errors.join('\n');
  assert.match(text, /c\.yaml:3: critical\.0\.paths: Expected array/);
  assert.match(text, /c\.yaml:5: redaction\.secretLikeKinds\.0: not a valid regular expression/);
  assert.match(text, /c\.yaml:7: redaction\.paths\.0\.group: Required/);
});

test('a valid file merges over the defaults; the result is frozen', () => {
  const r = checkConfigText('actors:\n  tools:\n    - tool: mytool\n      userAgent: "^mytool/"\n', 'ok.yaml');
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.config.actors.tools[0]!.tool, 'mytool', 'user rules come first');
  assert.ok(r.config.actors.tools.length > 10, 'defaults kept');
  assert.ok(Object.isFrozen(r.config.actors.tools[0]));
  assert.ok(Object.isFrozen(defaultConfig().critical));
  assert.throws(() => {
    (r.config.actors.tools as unknown as unknown[]).push({});
  });
});

test('a bad environment variable fails with its name', () => {
  assert.throws(
    () => loadEnv({ CRTRAIL_PORT: 'eighty' }),
    (e: unknown) => e instanceof ConfigError && /CRTRAIL_PORT="eighty"/.test(e.message),
  );
  assert.throws(
    () => loadEnv({ CRTRAIL_TLS_CERT: '/x.pem' }),
    /CRTRAIL_TLS_CERT and CRTRAIL_TLS_KEY must be set together/,
  );
  assert.equal(loadEnv({}).CRTRAIL_PORT, 8080);
});
