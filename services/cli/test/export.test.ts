import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvRows, type ExportDoc } from '../src/ops/export-csv.js';
import { resolveTime } from '../src/ops/export.js';

test('relative export bounds become the instants they meant when the export started', () => {
  const now = Date.parse('2026-11-29T12:00:00.000Z');
  assert.equal(resolveTime('now', now), '2026-11-29T12:00:00.000Z');
  assert.equal(resolveTime('now-7d', now), '2026-11-22T12:00:00.000Z');
  assert.equal(resolveTime('now+90m', now), '2026-11-29T13:30:00.000Z');
  // Left to Elasticsearch (recorded as given, with the export's start time).
  assert.equal(resolveTime('now-1M', now), 'now-1M');
  assert.equal(resolveTime('now/d', now), 'now/d');
  assert.equal(resolveTime('2026-01-01T00:00:00Z', now), '2026-01-01T00:00:00Z');
});

test('CSV: one row per changed field, a record without ops is one row', () => {
  const doc = {
    '@timestamp': 't',
    event: { id: 'a1', action: 'patch', outcome: 'success' as const },
    orchestrator: { cluster: { name: 'prod' } },
    kubernetes: {
      audit: { user: { username: 'alice' }, objectRef: { apiGroup: 'g', resource: 'rs', namespace: 'ns', name: 'n' } },
    },
    crtrail: {
      actor: { kind: 'human' as const, name: 'alice', tool: 'kubectl' },
      change: {
        kind: 'spec' as const,
        ops: [
          { op: 'replace' as const, path: '/spec/a', old: 1, new: { b: 2 } },
          { op: 'add' as const, path: '/spec/c', new: 'x' },
        ],
      },
      integrity: { seq: 4, hash: 'h', prev_hash: 'p' },
    },
  } satisfies ExportDoc;
  const rows = csvRows(doc);
  assert.equal(rows.length, 2);
  assert.deepEqual(rows[0]!.slice(0, 4), ['prod', '4', 'h', 'p']);
  assert.deepEqual(rows[0]!.slice(-4), ['replace', '/spec/a', '1', '{"b":2}']);
  assert.deepEqual(rows[1]!.slice(-4), ['add', '/spec/c', '', 'x']);
  assert.equal(csvRows({ ...doc, crtrail: { ...doc.crtrail, change: { kind: 'noop' as const, ops: [] } } }).length, 1);
});

test('CSV: a cell a spreadsheet would run as a formula is escaped with a leading quote', async () => {
  const { csvCell } = await import('../src/ops/export-csv.js');
  for (const v of ['=1+1', '+SUM(A1)', '-2+3', '@cmd', '\tx', '\rx']) assert.equal(csvCell(v), `'${v}`);
  for (const v of ['plain', 'sha256:ab', '1', '', "'already"]) assert.equal(csvCell(v), v);
  const doc: ExportDoc = {
    crtrail: {
      change: { kind: 'spec', ops: [{ op: 'replace' as const, path: '/spec/note', old: '=HYPERLINK("x")', new: -1 }] },
    },
  };
  assert.deepEqual(
    csvRows(doc).map((r) => r.slice(-2)),
    [[`'=HYPERLINK("x")`, "'-1"]],
  );
});

test('changes: redaction hashes are shortened on screen, other text is left alone', async () => {
  const { shortenHashes } = await import('../src/print/change-lines.js');
  const hash = `sha256:${'1a2b3c4d'}${'0'.repeat(56)}`;
  assert.equal(shortenHashes(hash), 'sha256:1a2b3c4d…');
  assert.equal(shortenHashes(JSON.stringify({ password: hash })), '{"password":"sha256:1a2b3c4d…"}');
  assert.equal(shortenHashes('sha256:short'), 'sha256:short');
});
