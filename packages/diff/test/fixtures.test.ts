import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { objectKeyString, type AuditEvent } from '@crtrail/audit';
import { applyMutation, expandMutations, type ChangeFields, type History } from '../src/index.js';

// Real audit events captured by others, shipped in the repository (see examples/audit/SOURCES.md).
const DIR = new URL('../../../examples/audit/public/', import.meta.url);
const MUTATING = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
const FINAL = new Set(['ResponseComplete', 'Panic']);
/** Built-in groups (the filter package owns the real list; this is enough to tell the fixtures' CRs apart). */
const BUILT_IN = new Set([
  '',
  'apps',
  'batch',
  'extensions',
  'policy',
  'autoscaling',
  'networking.k8s.io',
  'rbac.authorization.k8s.io',
  'authorization.k8s.io',
  'authentication.k8s.io',
]);

const POINTER = /^(\/([^~/]|~[01])*)*$/;
const KINDS = new Set(['create', 'delete', 'spec', 'status', 'metadata', 'mixed', 'noop']);

function load(): Array<{ file: string; events: AuditEvent[] }> {
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.ndjson') || f.endsWith('.eventlist.json'))
    .sort();
  return files.map((file) => {
    const text = readFileSync(new URL(file, DIR), 'utf8');
    const events = file.endsWith('.ndjson')
      ? text
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as AuditEvent)
      : (JSON.parse(text) as { items: AuditEvent[] }).items;
    return { file, events: events.filter((e) => MUTATING.has(e.verb) && FINAL.has(e.stage)) };
  });
}

const isCustomResource = (e: AuditEvent): boolean => !BUILT_IN.has(e.objectRef?.apiGroup ?? '');

/** Every mutation of `events` through the engine, one history per object, repairs applied in place. */
function run(events: AuditEvent[]): Map<string, ChangeFields> {
  const histories = new Map<string, History>();
  const records = new Map<string, ChangeFields>();
  for (const event of events) {
    for (const { key, mutation } of expandMutations(event, 'fixtures')) {
      const k = objectKeyString(key);
      const r = applyMutation(histories.get(k), mutation);
      histories.set(k, r.history);
      records.set(mutation.recordId, r.record);
      for (const rep of r.repairs) records.set(rep.recordId, { ...records.get(rep.recordId)!, ...rep.change });
    }
  }
  return records;
}

function checkRecord(label: string, c: ChangeFields): void {
  assert.ok(KINDS.has(c.kind), `${label}: kind ${c.kind}`);
  assert.ok(['known', 'unknown', 'none'].includes(c.baseline), `${label}: baseline ${c.baseline}`);
  for (const o of [...c.ops, ...c.server_mutations]) {
    assert.match(o.path, POINTER, `${label}: ${o.path} is not a JSON pointer`);
    assert.ok(['add', 'remove', 'replace'].includes(o.op), `${label}: op ${o.op}`);
    if (o.op === 'add') assert.equal('old' in o, false, `${label}: add with old`);
    if (o.op === 'remove') assert.equal('new' in o, false, `${label}: remove with new`);
    assert.doesNotMatch(
      o.path,
      /^\/metadata\/(managedFields|resourceVersion|generation|uid|creationTimestamp)(\/|$)/,
      `${label}: ignored path`,
    );
  }
  assert.deepEqual(c.paths, [...new Set(c.ops.map((o) => o.path))].sort(), `${label}: paths`);
  assert.deepEqual(
    c.patch.map((p) => p.path),
    c.ops.map((o) => o.path),
    `${label}: patch`,
  );
}

test('every mutation in the public fixtures goes through the engine and yields valid records', () => {
  let total = 0;
  let custom = 0;
  for (const { file, events } of load()) {
    const records = run(events);
    for (const [id, c] of records) checkRecord(`${file} ${id}`, c);
    total += events.length;
    custom += events.filter(isCustomResource).length;
  }
  // Guards against a loader that silently reads nothing.
  assert.ok(total >= 200, `only ${total} mutations read`);
  assert.ok(custom >= 5, `only ${custom} custom-resource mutations read`);
});

test('fixture custom resources: status subresource updates, a server-side apply, a failed delete', () => {
  const { events } = load().find((f) => f.file.startsWith('openshift-clo-apiaudit-in'))!;
  const crs = events.filter(isCustomResource);
  const records = run(crs);
  const by = (auditID: string): ChangeFields => {
    const e = crs.find((x) => x.auditID === auditID)!;
    return records.get(expandMutations(e, 'fixtures')[0]!.mutation.recordId)!;
  };
  // CatalogSource status written by the marketplace operator; no earlier state known.
  const status = by('b54d50ce-8a29-4753-83fa-802e8931b4ae');
  assert.equal(status.kind, 'status');
  assert.equal(status.baseline, 'unknown');
  assert.deepEqual(status.paths, ['/status']);
  assert.equal(status.ops[0]!.op, 'replace');
  assert.equal('old' in status.ops[0]!, false, 'old value unknown');
  // The network operator applies a ServiceMonitor (fieldManager + force=true; the policy omitted managedFields).
  const ssa = by('71f7e717-fecd-4205-82cb-fb804d9fa9f9');
  assert.equal(ssa.patch_type, 'apply');
  assert.equal(ssa.baseline, 'unknown');
  assert.ok(ssa.paths.includes('/spec/jobLabel'));
  assert.ok(
    !ssa.paths.includes('/kind') && !ssa.paths.includes('/metadata/name'),
    'apply identity fields are not changes',
  );
  assert.deepEqual(
    ssa.ops.find((o) => o.path === '/spec/jobLabel'),
    { op: 'replace', path: '/spec/jobLabel', new: 'app' },
  );
  assert.equal(ssa.kind, 'mixed');
  // Deleting a PrometheusRule that does not exist: a failure that changed nothing.
  const gone = by('33d43935-2991-40e1-b3cd-af00fc8b214d');
  assert.equal(gone.kind, 'noop');
  assert.deepEqual(gone.ops, []);
  assert.equal(gone.state_hash, undefined);
});

test('fixtures delivered in reverse give the records of in-order delivery', () => {
  for (const { file, events } of load()) {
    // Upstream edited some captures so one auditID names two different requests (SOURCES.md):
    // those are not replays, and which one wins depends on the order by design (first wins).
    const count = new Map<string, number>();
    for (const e of events) count.set(e.auditID, (count.get(e.auditID) ?? 0) + 1);
    const unique = events.filter((e) => count.get(e.auditID) === 1);
    const inOrder = run(unique);
    const reversed = run([...unique].reverse());
    assert.deepEqual(reversed, inOrder, file);
  }
});
