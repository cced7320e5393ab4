import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent } from '@crtrail/audit';
import {
  aksEventsOfRecords,
  decodeFirehoseDelivery,
  readAksExport,
  readGkeExport,
  type CloudWatchPayload,
} from '../src/index.js';
import { firehoseBody, fixtureJson, fixtureText, nativeWrites, recordsOf } from './helpers.js';

/*
 * The same five writes (create, merge patch, status update, a denied update, delete) reach crtrail
 * from each source; what matters is that the records (ops, actor, kind, baseline, gap) come out
 * as the webhook's would. These run the worker's own filter, engine and actor rules on the
 * converted events, in memory; the services' end-to-end runs on Redis and Elasticsearch come with
 * the route wiring.
 */

const eks = () =>
  decodeFirehoseDelivery({
    headers: {},
    body: firehoseBody(fixtureJson<CloudWatchPayload[]>('eks-cloudwatch-payloads.json')),
  }).events;
const aks = () => aksEventsOfRecords(fixtureJson('aks-eventhub-message.json')).events;
const gke = (file: string) => readGkeExport(fixtureText(file)).events;
/** GKE logs no query string: the native events as GKE can show them. */
const withoutQuery = (events: AuditEvent[]) => events.map((e) => ({ ...e, requestURI: e.requestURI.split('?')[0]! }));
/** The native events as a Metadata-level audit policy would have logged them. */
const asMetadata = (events: AuditEvent[]) =>
  events.map(({ requestObject: _q, responseObject: _r, ...e }) => ({ ...e, level: 'Metadata' as const }));

test("EKS (Firehose) and AKS (Event Hub) deliveries make exactly the webhook's records", () => {
  const native = recordsOf(nativeWrites());
  assert.equal(native.length, 5);
  assert.deepEqual(recordsOf(eks()), native);
  assert.deepEqual(recordsOf(aks()), native);
  assert.deepEqual(recordsOf(readAksExport(fixtureText('aks-storage-PT1H.json')).events), native);
});

test('GKE with bodies: the same ops, kind, baseline and actor; only what the query string carried is lost', () => {
  const native = nativeWrites();
  assert.deepEqual(recordsOf(gke('gke-entries-request-response.ndjson')), recordsOf(withoutQuery(native)));
  // The one difference from the webhook: kubectl's ?fieldManager= names the manager; GKE keeps
  // only the user agent, from which the apiserver itself derives a manager when none is given.
  const [viaWebhook] = recordsOf(native);
  const [viaGke] = recordsOf(gke('gke-entries-request-response.ndjson'));
  assert.deepEqual([viaWebhook!.actor.tool, viaGke!.actor.tool], ['kubectl-create', 'kubectl']);
  assert.deepEqual({ ...viaGke, actor: undefined }, { ...viaWebhook, actor: undefined });
});

test('GKE without bodies: records exactly as for Metadata-level events (no fields, never a complete write)', () => {
  const records = recordsOf(gke('gke-entries-metadata.ndjson'));
  assert.deepEqual(records, recordsOf(asMetadata(withoutQuery(nativeWrites()))));
  assert.ok(records.every((r) => r.ops.length === 0 && r.baseline !== 'known'));
});

test('a body-less GKE write between two full ones leaves a gap, as a Metadata-level event does', () => {
  const full = gke('gke-entries-request-response.ndjson');
  const bare = gke('gke-entries-metadata.ndjson');
  const mixed = [full[0]!, bare[1]!, full[2]!];
  const native = withoutQuery(nativeWrites());
  const expected = recordsOf([native[0]!, ...asMetadata([native[1]!]), native[2]!]);
  const records = recordsOf(mixed);
  assert.deepEqual(records, expected);
  assert.equal(records[2]!.gap, true, 'the status update after the unseen patch is diffed across a gap');
  assert.equal(records[2]!.baseline, 'unknown');
});
