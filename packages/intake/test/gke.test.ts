import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { validateEvent, type AuditEvent } from '@crtrail/audit';
import {
  gkeClusterOf,
  gkeEventOfEntry,
  gkeObjectRef,
  parseGkeMethod,
  readGkeExport,
  requestUriOf,
  type GkeMethod,
} from '../src/index.js';
import { fixtureText, nativeWrites, ndjson } from './helpers.js';

type Entry = Record<string, unknown> & { protoPayload: Record<string, unknown> };
const convert = (entry: unknown): AuditEvent => {
  const out = gkeEventOfEntry(entry);
  assert.ok('event' in out, JSON.stringify(out));
  return out.event;
};
const pathOf = (uri: string) => uri.split('?')[0];

/** The fields a GKE entry carries, as the native event has them (requestReceivedTimestamp and the URI's query are not carried). */
function carried(e: AuditEvent, withBodies: boolean) {
  return {
    auditID: e.auditID,
    verb: e.verb,
    stage: e.stage,
    objectRef: e.objectRef,
    username: e.user.username,
    sourceIPs: e.sourceIPs,
    userAgent: e.userAgent,
    code: e.responseStatus?.code,
    stageTimestamp: e.stageTimestamp,
    path: pathOf(e.requestURI),
    decision: e.annotations?.['authorization.k8s.io/decision'],
    reason: e.annotations?.['authorization.k8s.io/reason'],
    ...(withBodies ? { level: e.level, requestObject: e.requestObject, responseObject: e.responseObject } : {}),
  };
}

test('GKE entries with bodies convert to the native events in every field the entry carries', () => {
  const native = nativeWrites();
  const converted = ndjson('gke-entries-request-response.ndjson').map(convert);
  assert.equal(converted.length, native.length);
  converted.forEach((e, i) => {
    assert.deepEqual(carried(e, true), carried(native[i]!, true), native[i]!.auditID);
    assert.ok(validateEvent(e).ok);
    assert.equal(e.annotations?.['crtrail.dev/source'], 'gke');
    assert.equal(e.annotations?.['crtrail.dev/bodies'], 'request-response');
    // One time in the entry: both event times are it, and the annotation says so.
    assert.equal(e.requestReceivedTimestamp, e.stageTimestamp);
    assert.match(e.annotations?.['crtrail.dev/derived'] ?? '', /requestReceivedTimestamp/);
  });
  // The code of the failed update comes from the apiserver's Status body, not from the rpc mapping.
  assert.doesNotMatch(converted[3]!.annotations?.['crtrail.dev/derived'] ?? '', /responseStatus\.code/);
  assert.equal(converted[3]!.responseStatus?.reason, 'Forbidden');
  assert.match(converted[0]!.annotations?.['crtrail.dev/derived'] ?? '', /responseStatus\.code/);
  // Protobuf Struct tags never reach the bodies.
  assert.ok(converted.every((e) => !JSON.stringify([e.requestObject, e.responseObject]).includes('@type')));
});

test('GKE entries without bodies (the default for custom resources) are Metadata-level events, said so, the rest carried', () => {
  const native = nativeWrites();
  const out = readGkeExport(fixtureText('gke-entries-metadata.ndjson'));
  assert.deepEqual(out.rejected, []);
  assert.deepEqual(out.skipped, [{ where: 'line 1', reason: 'not-k8s-audit' }]);
  out.events.forEach((e, i) => {
    assert.deepEqual(carried(e, false), carried(native[i]!, false));
    assert.equal(e.level, 'Metadata');
    assert.equal('requestObject' in e || 'responseObject' in e, false);
    assert.equal(e.annotations?.['crtrail.dev/bodies'], 'absent');
  });
  // Without the Status body, the failed update's code comes from google.rpc PERMISSION_DENIED.
  assert.equal(out.events[3]!.responseStatus?.code, 403);
  assert.equal(out.events[3]!.responseStatus?.status, 'Failure');
  assert.match(out.events[3]!.annotations?.['crtrail.dev/derived'] ?? '', /responseStatus\.code/);
});

test('a GKE entry in the documented LogEntry / AuditLog form (nodes/proxy, status code 0) converts field by field', () => {
  const [entry] = ndjson<Entry>('gke-documented-entries.ndjson');
  const e = convert(entry);
  assert.deepEqual(
    { ...e, annotations: undefined },
    {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: '5d0c7f3a-9b1e-4c62-a8d4-2f6e91b03c57',
      stage: 'ResponseComplete',
      requestURI: '/api/v1/nodes/gke-shop-pool-1-7c2d9e41-x8qz/proxy',
      verb: 'get',
      user: { username: 'system:serviceaccount:observability:metrics-scraper' },
      sourceIPs: ['10.128.0.42'],
      userAgent: 'metrics-scraper/2.4.0',
      objectRef: {
        apiGroup: '',
        apiVersion: 'v1',
        resource: 'nodes',
        name: 'gke-shop-pool-1-7c2d9e41-x8qz',
        subresource: 'proxy',
      },
      responseStatus: { code: 200 },
      requestReceivedTimestamp: '2026-03-02T09:15:07.302118Z',
      stageTimestamp: '2026-03-02T09:15:07.302118Z',
      annotations: undefined,
    },
  );
  assert.equal(e.annotations?.['authorization.k8s.io/decision'], 'allow');
  assert.equal(gkeClusterOf(entry), 'shop');
});

test('methodName: the version is found from the end, so dotted groups and subresources split right', () => {
  const cases: Array<[string, GkeMethod | undefined]> = [
    ['io.k8s.core.v1.pods.create', { groupHint: 'core', version: 'v1', resource: 'pods', verb: 'create' }],
    [
      'io.k8s.authorization.rbac.v1.roles.create',
      { groupHint: 'authorization.rbac', version: 'v1', resource: 'roles', verb: 'create' },
    ],
    [
      'io.k8s.core.v1.pods.exec.create',
      { groupHint: 'core', version: 'v1', resource: 'pods', subresource: 'exec', verb: 'create' },
    ],
    [
      'io.k8s.com.example.stable.v1beta2.crontabs.status.patch',
      {
        groupHint: 'com.example.stable',
        version: 'v1beta2',
        resource: 'crontabs',
        subresource: 'status',
        verb: 'patch',
      },
    ],
    [
      'io.k8s.coordination.v1.leases.deletecollection',
      { groupHint: 'coordination', version: 'v1', resource: 'leases', verb: 'deletecollection' },
    ],
    ['io.k8s.get', undefined],
    ['google.container.v1.ClusterManager.CreateCluster', undefined],
  ];
  for (const [name, want] of cases) assert.deepEqual(parseGkeMethod(name), want, name);
});

test('resourceName: namespaced, cluster-scoped, the namespace object itself, collections, and an apis/ prefix', () => {
  const m = (name: string) => parseGkeMethod(name)!;
  const cases: Array<[string, string, object | undefined]> = [
    [
      'core/v1/namespaces/kube-system/endpoints/vpa-recommender',
      'io.k8s.core.v1.endpoints.update',
      { apiGroup: '', apiVersion: 'v1', resource: 'endpoints', namespace: 'kube-system', name: 'vpa-recommender' },
    ],
    [
      'core/v1/namespaces/default/pods',
      'io.k8s.core.v1.pods.list',
      { apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'default' },
    ],
    [
      'core/v1/namespaces/foo',
      'io.k8s.core.v1.namespaces.delete',
      { apiGroup: '', apiVersion: 'v1', resource: 'namespaces', name: 'foo' },
    ],
    [
      'core/v1/namespaces/foo/status',
      'io.k8s.core.v1.namespaces.status.update',
      { apiGroup: '', apiVersion: 'v1', resource: 'namespaces', name: 'foo', subresource: 'status' },
    ],
    [
      'rbac.authorization.k8s.io/v1/clusterroles/view',
      'io.k8s.authorization.rbac.v1.clusterroles.update',
      { apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1', resource: 'clusterroles', name: 'view' },
    ],
    [
      'apis/apps/v1/namespaces/web/deployments/shop/scale',
      'io.k8s.apps.v1.deployments.scale.patch',
      {
        apiGroup: 'apps',
        apiVersion: 'v1',
        resource: 'deployments',
        namespace: 'web',
        name: 'shop',
        subresource: 'scale',
      },
    ],
    [
      'core/v1/namespaces/opa/pods/opa-57998cf7c5-bjkfk/exec',
      'io.k8s.core.v1.pods.exec.create',
      {
        apiGroup: '',
        apiVersion: 'v1',
        resource: 'pods',
        namespace: 'opa',
        name: 'opa-57998cf7c5-bjkfk',
        subresource: 'exec',
      },
    ],
    ['core/v1/namespaces/default/configmaps/x', 'io.k8s.core.v1.secrets.get', undefined],
  ];
  for (const [name, method, want] of cases) assert.deepEqual(gkeObjectRef(name, m(method)), want, name);
  assert.equal(
    requestUriOf(
      { apiGroup: 'stable.example.com', apiVersion: 'v1', resource: 'crontabs', namespace: 'a', name: 'n' },
      'create',
    ),
    '/apis/stable.example.com/v1/namespaces/a/crontabs',
  );
  assert.equal(
    requestUriOf(
      { apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'a', name: 'p', subresource: 'exec' },
      'create',
    ),
    '/api/v1/namespaces/a/pods/p/exec',
  );
});

test('what the entry leaves out is read by protobuf JSON rules: absent granted is a denial; operation first/last never change the stage', () => {
  const [entry] = ndjson<Entry>('gke-entries-metadata.ndjson').slice(1);
  const denied = {
    ...entry!,
    labels: {},
    protoPayload: { ...entry!.protoPayload, authorizationInfo: [{ permission: 'x', resource: 'y' }] },
  };
  assert.equal(convert(denied).annotations?.['authorization.k8s.io/decision'], 'forbid');
  // As in the documented entry: `first: true` without `last` on a request that completed.
  const firstOnly = { ...entry!, operation: { id: 'o', producer: 'k8s.io', first: true } };
  assert.equal(convert(firstOnly).stage, 'ResponseComplete');
  const noop = { ...entry!, operation: undefined };
  assert.equal(convert(noop).stage, 'ResponseComplete');
  const unknown = { ...entry!, protoPayload: { ...entry!.protoPayload, status: { code: 42 } } };
  assert.equal(convert(unknown).responseStatus?.code, 500);
});

test('skips what is not a Kubernetes resource audit entry; refuses an entry that cannot be read', () => {
  const [entry] = ndjson<Entry>('gke-entries-metadata.ndjson').slice(1);
  assert.deepEqual(
    gkeEventOfEntry({
      ...entry!,
      protoPayload: { ...entry!.protoPayload, methodName: 'io.k8s.get', resourceName: undefined },
    }),
    { skipped: { where: 'entry', reason: 'non-resource' } },
  );
  assert.deepEqual(
    gkeEventOfEntry({
      ...entry!,
      protoPayload: { ...entry!.protoPayload, '@type': 'type.googleapis.com/google.cloud.audit.Other' },
    }),
    { skipped: { where: 'entry', reason: 'not-k8s-audit' } },
  );
  assert.throws(() => gkeEventOfEntry({ ...entry!, insertId: undefined }), /entry\.insertId: required/);
  assert.throws(
    () =>
      gkeEventOfEntry({
        ...entry!,
        protoPayload: { ...entry!.protoPayload, resourceName: 'stable.example.com/v1/widgets/x' },
      }),
    /does not name the crontabs/,
  );
  assert.throws(
    () => gkeEventOfEntry({ ...entry!, timestamp: '2026-03-02 10:00:00' }),
    /event\.requestReceivedTimestamp: must be an RFC 3339 timestamp/,
  );
  assert.throws(() => gkeEventOfEntry([]), /expected a Cloud Logging LogEntry object/);
});

test('replay input: NDJSON, a JSON array (gcloud logging read --format=json) and gzip read the same; bad lines are listed', () => {
  const text = fixtureText('gke-entries-request-response.ndjson');
  const lines = readGkeExport(text);
  const array = readGkeExport(`[${text.trim().split('\n').join(',')}]`);
  assert.deepEqual(array.events, lines.events);
  assert.deepEqual(readGkeExport(gzipSync(text)).events, lines.events);
  const bad = readGkeExport(
    `${text}{"insertId":"x","protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.create"}}\nnope\n`,
  );
  assert.equal(bad.events.length, lines.events.length);
  assert.deepEqual(
    bad.rejected.map((r) => r.where),
    ['line 6', 'line 7'],
  );
});
