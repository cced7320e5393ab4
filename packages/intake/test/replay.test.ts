import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { detectExportSource, readProviderExport } from '../src/index.js';
import { fixtureText, nativeWrites, withoutIntakeAnnotations } from './helpers.js';

test("a replay file's source is told by its first record, gzip'd or not", () => {
  const gke = fixtureText('gke-entries-request-response.ndjson');
  const cases: Array<[string | Buffer, string | undefined]> = [
    [gke, 'gke'],
    [`[${gke.trim().split('\n').join(',')}]`, 'gke'],
    [gzipSync(gke), 'gke'],
    [fixtureText('aks-storage-PT1H.json'), 'aks'],
    [fixtureText('aks-eventhub-message.json'), 'aks'],
    [fixtureText('native-writes.ndjson'), 'native'],
    [JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: nativeWrites() }, null, 2), 'native'],
    ['hello\n', undefined],
    ['{"some":"thing"}\n', undefined],
  ];
  for (const [content, want] of cases) assert.equal(detectExportSource(content), want, String(content).slice(0, 40));
});

test("readProviderExport dispatches to the source's reader", () => {
  assert.deepEqual(
    readProviderExport(fixtureText('aks-storage-PT1H.json'), 'aks').events.map(withoutIntakeAnnotations),
    nativeWrites(),
  );
  assert.deepEqual(
    readProviderExport(fixtureText('gke-entries-request-response.ndjson'), 'gke').events.map((e) => e.auditID),
    nativeWrites().map((e) => e.auditID),
  );
});
