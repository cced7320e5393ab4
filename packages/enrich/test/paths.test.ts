import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigText } from '@crtrail/config';
import { criticalPaths } from '../src/index.js';

test('field paths: dot paths and JSON pointers both accepted and mean the same field; one that can never match is an error', () => {
  const ok = checkConfigText(
    [
      'filter:',
      '  ignorePaths: [metadata.annotations.note, /status/observedGeneration]',
      'critical:',
      '  - group: g.example.com',
      '    kind: Thing',
      '    paths: [/spec/owner, spec.size, /metadata/annotations/example.com~1tier]',
    ].join('\n'),
    'paths.yaml',
  );
  assert.ok(ok.ok, ok.ok ? '' : ok.errors.join('\n'));
  if (!ok.ok) return;
  assert.ok(
    ok.config.filter.ignorePaths.includes('/metadata/annotations/note'),
    'a dot ignore path becomes the pointer records use',
  );
  assert.ok(ok.config.filter.ignorePaths.includes('/status/observedGeneration'));
  const target = { group: 'g.example.com', kind: 'Thing' };
  assert.deepEqual(
    criticalPaths(
      target,
      ['/spec/owner', '/spec/size', '/spec/other', '/metadata/annotations/example.com~1tier'],
      ok.config,
    ),
    ['/spec/owner', '/spec/size', '/metadata/annotations/example.com~1tier'],
  );
  for (const bad of ['spec..x', 'spec/owner', '/', '.spec', 'spec.']) {
    const r = checkConfigText(`critical:\n  - group: g\n    paths: ["${bad}"]\n`, 'bad.yaml');
    assert.equal(r.ok, false, bad);
    if (!r.ok) assert.match(r.errors.join('\n'), /bad\.yaml:3: critical\.0\.paths\.0: a dot path .* or a JSON pointer/);
  }
});

test('critical by the object, not the answer: a delete of a critical object is critical; the kind never comes from a Status', async () => {
  const { criticalFor, subjectKind } = await import('../src/index.js');
  const { defaultConfig } = await import('@crtrail/config');
  const config = defaultConfig();
  const policy = { group: 'security.istio.io', resource: 'authorizationpolicies', kind: 'AuthorizationPolicy' };
  assert.deepEqual(
    criticalFor(policy, { kind: 'delete', paths: [] }, config),
    ['/spec'],
    'no removed field listed: the rule fields',
  );
  assert.deepEqual(criticalFor(policy, { kind: 'delete', paths: ['/spec/rules/0/to', '/metadata/name'] }, config), [
    '/spec/rules/0/to',
  ]);
  assert.deepEqual(criticalFor(policy, { kind: 'metadata', paths: ['/metadata/labels/a'] }, config), []);
  assert.deepEqual(
    criticalFor({ ...policy, kind: undefined }, { kind: 'delete', paths: [] }, config),
    [],
    'a rule for a kind needs the kind',
  );
  assert.equal(subjectKind([{ kind: 'Status' }, { kind: 'Application' }]), 'Application');
  assert.equal(subjectKind([{ kind: 'ApplicationList' }, undefined], ['Application']), 'Application');
  assert.equal(
    subjectKind([{ kind: 'Status' }], ['A', 'B']),
    undefined,
    'two kinds learned for one resource: not guessed',
  );
});
