import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { AuditEvent, EventList } from '@crtrail/audit';
import { aksClusterOf, aksEventOfRecord, aksEventsOfRecords, AKS_SKIPPED_BODY, readAksExport } from '../src/index.js';
import { fixtureJson, fixtureText, nativeWrites, withoutIntakeAnnotations } from './helpers.js';

test('an Event Hub message {"records": [...]} yields the apiserver events, other categories skipped', () => {
  const out = aksEventsOfRecords(fixtureJson('aks-eventhub-message.json'));
  assert.deepEqual(out.events.map(withoutIntakeAnnotations), nativeWrites());
  assert.ok(out.events.every((e) => e.annotations?.['crtrail.dev/source'] === 'aks'));
  assert.deepEqual(out.skipped, [{ where: 'body.records[0]', reason: 'not-audit-category' }]);
});

test('a storage export (JSON Lines PT1H.json), gzip\'d or not, and a {"records"} file read the same', () => {
  const lines = readAksExport(fixtureText('aks-storage-PT1H.json'));
  assert.deepEqual(lines.rejected, []);
  assert.deepEqual(lines.events.map(withoutIntakeAnnotations), nativeWrites());
  assert.deepEqual(lines.skipped, [{ where: 'line 1', reason: 'not-audit-category' }]);
  assert.deepEqual(readAksExport(gzipSync(fixtureText('aks-storage-PT1H.json'))).events, lines.events);
  assert.deepEqual(readAksExport(fixtureText('aks-eventhub-message.json')).events, lines.events);
  // Event Hub messages dumped one per line (each a whole {"records"} body), split across two messages.
  const message = fixtureJson<{ records: unknown[] }>('aks-eventhub-message.json');
  const dumped = [{ records: message.records.slice(0, 3) }, { records: message.records.slice(3) }]
    .map((m) => JSON.stringify(m))
    .join('\n');
  const fromDump = readAksExport(dumped);
  assert.deepEqual(fromDump.events, lines.events);
  assert.deepEqual(fromDump.skipped, [{ where: 'line 1.records[0]', reason: 'not-audit-category' }]);
});

test("a record captured from a real AKS Event Hub unwraps to the event the project's public examples hold", () => {
  const record = fixtureJson('aks-sysdig-record.json');
  const out = aksEventOfRecord(record, 'record');
  assert.ok('event' in out);
  const examples = JSON.parse(
    readFileSync(
      new URL('../../../examples/audit/public/sysdig-aks-audit-log.eventlist.json', import.meta.url),
      'utf8',
    ),
  ) as EventList;
  const same = examples.items.find((e) => e.auditID === 'c8a9b881-23a1-464b-8c82-dae1981b34c1');
  assert.deepEqual(withoutIntakeAnnotations(out.event), same);
  assert.equal(aksClusterOf((record as { resourceId: string }).resourceId), 'KUBETEST');
});

test('a body AKS replaced by "skipped-too-big-size-object" is dropped and the event marked truncated, like the apiserver\'s own truncation', () => {
  const native = nativeWrites()[1]!;
  const big: AuditEvent = { ...native, responseObject: AKS_SKIPPED_BODY };
  const out = aksEventOfRecord({ category: 'kube-audit', properties: { log: JSON.stringify(big) } }, 'r');
  assert.ok('event' in out);
  assert.equal('responseObject' in out.event, false);
  assert.deepEqual(out.event.requestObject, native.requestObject);
  assert.equal(out.event.annotations?.['audit.k8s.io/truncated'], 'true');
  assert.equal(out.event.annotations?.['crtrail.dev/bodies'], 'skipped-too-big');
});

test('bad records: rejected one by one in a file (so replay can name each), thrown for a message', () => {
  const good = JSON.stringify({ category: 'kube-audit', properties: { log: JSON.stringify(nativeWrites()[0]) } });
  const text = [
    good,
    '{"category":"kube-audit","properties":{"log":"I0302 10:00:00.1 klog line"}}',
    '{"category":"kube-audit","properties":{}}',
    'not json',
    JSON.stringify({
      category: 'kube-audit-admin',
      properties: { log: JSON.stringify({ ...nativeWrites()[0], stageTimestamp: '2026-02-30T00:00:00Z' }) },
    }),
    '',
  ].join('\n');
  const out = readAksExport(text);
  assert.equal(out.events.length, 1);
  assert.deepEqual(
    out.rejected.map((r) => r.where),
    ['line 2', 'line 3', 'line 4', 'line 5'],
  );
  assert.match(out.rejected[0]!.reason, /line 2\.properties\.log: not valid JSON/);
  assert.match(out.rejected[1]!.reason, /properties\.log: must be a string/);
  assert.match(out.rejected[3]!.reason, /event\.stageTimestamp: must be an RFC 3339 timestamp/);
  assert.throws(
    () => aksEventsOfRecords({ records: [JSON.parse(good), { category: 'kube-audit', properties: { log: '{}' } }] }),
    /body\.records\[1\]\.properties\.log: event\.level: required/,
  );
  assert.throws(() => aksEventsOfRecords([]), /expected \{"records": \[\.\.\.\]\}/);
});

test('properties re-serialised as a JSON string by an intermediate pipeline are read too', () => {
  const native = nativeWrites()[2]!;
  const out = aksEventOfRecord(
    { category: 'kube-audit', properties: JSON.stringify({ log: JSON.stringify(native), stream: 'stdout' }) },
    'r',
  );
  assert.ok('event' in out);
  assert.deepEqual(withoutIntakeAnnotations(out.event), native);
});
