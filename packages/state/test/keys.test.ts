import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { keySlot } from '@crtrail/queue';
import { KEY_PERSISTENCE, keys, type StateKeys } from '../src/keys.js';

/** Sample arguments for each builder (distinct, so a swapped argument shows). */
const build = (k: StateKeys): Record<keyof StateKeys, string> => ({
  state: k.state('c/g/r/ns/n'),
  lock: k.lock('c/g/r/ns/n'),
  chainHead: k.chainHead('c1'),
  chainPending: k.chainPending('c1'),
  dlq: k.dlq,
  kinds: k.kinds,
  salt: k.salt,
  firstFailure: k.firstFailure,
  alertSent: k.alertSent('sink', 'rec'),
  alertWindow: k.alertWindow('sink', 'grp'),
  alertGroup: k.alertGroup('sink', 'grp'),
  alertFlushing: k.alertFlushing('sink', 'grp', 'win'),
});

test('every key starts with the prefix and a colon, and no two keys of different kinds coincide', () => {
  const built = build(keys('pfx'));
  assert.deepEqual(Object.keys(built).sort(), Object.keys(keys('pfx')).sort(), 'the sample covers every builder');
  for (const [name, key] of Object.entries(built)) assert.ok(key.startsWith('pfx:'), `${name}: ${key}`);
  assert.equal(new Set(Object.values(built)).size, Object.keys(built).length);
});

test('the key formats are the stored ones (changing one orphans what an older crtrail wrote)', () => {
  assert.deepEqual(build(keys('pfx')), {
    state: 'pfx:state:c/g/r/ns/n',
    lock: 'pfx:lock:c/g/r/ns/n',
    chainHead: 'pfx:chain:c1',
    chainPending: 'pfx:chain:c1:pending',
    dlq: 'pfx:dlq',
    kinds: 'pfx:kinds',
    salt: 'pfx:redaction-salt',
    firstFailure: 'pfx:first-failure',
    alertSent: 'pfx:alerts:sent:sink:rec',
    alertWindow: 'pfx:alerts:window:sink:grp',
    alertGroup: 'pfx:alerts:group:sink:grp',
    alertFlushing: 'pfx:alerts:flushing:sink:grp:win',
  });
});

test('every key says whether it must persist, and why', () => {
  assert.deepEqual(Object.keys(KEY_PERSISTENCE).sort(), Object.keys(keys('p')).sort());
  for (const [name, p] of Object.entries(KEY_PERSISTENCE)) {
    assert.equal(typeof p.persist, 'boolean', name);
    assert.ok(p.why.length > 10, `${name} explains itself`);
  }
  // The ones whose loss loses data outright.
  for (const name of ['dlq', 'chainPending', 'salt', 'state'] as const)
    assert.equal(KEY_PERSISTENCE[name].persist, true, name);
  assert.equal(KEY_PERSISTENCE.lock.persist, false);
});

test('no key is built outside keys.ts: no other source of the package writes `${prefix}:`', () => {
  const dir = new URL('../src/', import.meta.url);
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'keys.ts')) {
    assert.doesNotMatch(readFileSync(new URL(file, dir), 'utf8'), /\$\{prefix\}:/, file);
  }
});

test('every Lua script is named <name>-<numkeys>.lua and starts with a header naming its KEYS', () => {
  const dir = new URL('../lua/', import.meta.url);
  const files = readdirSync(dir);
  assert.ok(files.length >= 8);
  for (const file of files) {
    const m = /^[a-z]+(?:-[a-z]+)*-(\d+|n)\.lua$/.exec(file);
    assert.ok(m, file);
    const text = readFileSync(new URL(file, dir), 'utf8');
    const header = text
      .split('\n')
      .filter((l) => l.startsWith('--'))
      .join('\n');
    assert.ok(text.startsWith('--'), `${file} starts with its header`);
    if (m[1] === 'n') assert.match(header, /KEYS\[1\.\.n\]/, file);
    else
      for (let i = 1; i <= Number(m[1]); i++)
        assert.match(header, new RegExp(`KEYS\\[${i}\\]`), `${file} names KEYS[${i}]`);
  }
});

test('Redis Cluster mode: every key carries the hash tag {<prefix>} (one slot per deployment); without it the keys are unchanged', () => {
  const tagged = build(keys('pfx', { redisCluster: true }));
  for (const [name, key] of Object.entries(tagged)) assert.ok(key.startsWith('{pfx}:'), `${name}: ${key}`);
  assert.deepEqual(
    Object.values(tagged).map((k) => k.replace(/^\{pfx\}/, 'pfx')),
    Object.values(build(keys('pfx'))),
    'the same keys, only tagged',
  );
  assert.equal(new Set(Object.values(tagged).map((k) => keySlot(k))).size, 1, 'one slot');
  assert.ok(
    new Set(Object.values(build(keys('pfx'))).map((k) => keySlot(k))).size > 1,
    'untagged, the same keys spread over slots',
  );
});
