import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { uniquePrefix } from '@crtrail/testkit';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { eventList } from './helpers/events.js';
import { haBatches } from './fixtures/lifecycle.js';
import type { LooseJson, StoredDoc } from './helpers/loose.js';

/**
 * A Flux-managed Certificate and CRD as a v1.29 apiserver audits them. Every write but Flux's lands
 * in the same second as Flux's apply, and managedFields are in the apiserver's order (operation,
 * then second, then manager): Flux's `Apply` entry is always first, so "the newest entry" names
 * Flux for every write — which is why the actor must come from the request.
 */
type Obj = LooseJson;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

const FLUX_SA = 'system:serviceaccount:flux-system:kustomize-controller';
const FLUX_UA = 'kustomize-controller/v0.0.0 (linux/amd64) kubernetes/$Format';
const CM_SA = 'system:serviceaccount:cert-manager:cert-manager';
const CM_UA =
  'cert-manager-certificates-readiness/v1.16.2 (linux/amd64) cert-manager/a3a5d5b7c1c3e2f4b6a8d0e2c4b6a8d0e2c4b6a8';
const OPERATOR_SA = 'system:serviceaccount:platform:cert-guard';
const OPERATOR_UA = 'cert-guard/v0.4.0 (linux/amd64) kubernetes/$Format';
const KUBECTL_UA = 'kubectl/v1.29.3 (linux/amd64) kubernetes/6813625';
const APISERVER_UA = 'kube-apiserver/v1.29.3 (linux/amd64) kubernetes/6813625';
const SECOND = '2026-11-02T10:00:01Z';
const saGroups = (ns: string) => ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'];

const CERT_PATH = '/apis/cert-manager.io/v1/namespaces/shop/certificates/shop-tls';
const CRD_NAME = 'backups.platform.example.com';
const CRD_PATH = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`;
const FLUX_LABELS = {
  'kustomize.toolkit.fluxcd.io/name': 'apps',
  'kustomize.toolkit.fluxcd.io/namespace': 'flux-system',
};

function entry(
  manager: string,
  operation: 'Apply' | 'Update',
  apiVersion: string,
  fields: Obj,
  subresource?: string,
): Obj {
  return {
    manager,
    operation,
    apiVersion,
    time: SECOND,
    fieldsType: 'FieldsV1',
    fieldsV1: fields,
    ...(subresource ? { subresource } : {}),
  };
}

/** `sortEncodedManagedFields` of k8s.io/apiserver (fieldmanager): operation, second, manager. */
function apiserverOrder(entries: Obj[]): Obj[] {
  return [...entries].sort((p, q) =>
    p.operation !== q.operation
      ? p.operation < q.operation
        ? -1
        : 1
      : p.manager < q.manager
        ? -1
        : p.manager > q.manager
          ? 1
          : 0,
  );
}

let n = 0;
function audit(e: {
  verb: string;
  uri: string;
  user: string;
  groups?: string[];
  impersonated?: string;
  ua: string;
  ref: Obj;
  code?: number;
  request?: unknown;
  response: Obj;
}): Obj {
  n += 1;
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'RequestResponse',
    auditID: `7a1c0000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    stage: 'ResponseComplete',
    requestURI: e.uri,
    verb: e.verb,
    user: { username: e.user, groups: e.groups ?? ['system:authenticated'] },
    ...(e.impersonated ? { impersonatedUser: { username: e.impersonated, groups: ['system:authenticated'] } } : {}),
    sourceIPs: ['10.244.0.17'],
    userAgent: e.ua,
    objectRef: e.ref,
    responseStatus: { metadata: {}, code: e.code ?? 200 },
    ...(e.request !== undefined ? { requestObject: e.request } : {}),
    responseObject: e.response,
    requestReceivedTimestamp: `2026-11-02T10:00:01.${String(n * 100).padStart(6, '0')}Z`,
    stageTimestamp: `2026-11-02T10:00:01.${String(n * 100 + 40).padStart(6, '0')}Z`,
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  };
}

interface Want {
  kind: string;
  name: string;
  tool: string;
  manager?: string;
  impersonator?: string;
  drift: boolean;
  change?: string;
  critical?: boolean;
}

/** The stream and what each of its records must say, written by hand. */
function stream(): { events: Obj[]; want: Map<string, Want> } {
  n = 0;
  const want = new Map<string, Want>();
  const events: Obj[] = [];
  const add = (e: Obj, w: Want) => {
    events.push(e);
    want.set(e.auditID, w);
  };

  // --- the Certificate ---
  const certRef = {
    resource: 'certificates',
    namespace: 'shop',
    name: 'shop-tls',
    apiGroup: 'cert-manager.io',
    apiVersion: 'v1',
  };
  const uid = '3f0a6f2e-9b1d-4c55-8a8e-5c0d1e2f0001';
  const spec = {
    secretName: 'shop-tls',
    issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' },
    dnsNames: ['shop.example.com'],
  };
  const fluxEntry = entry('kustomize-controller', 'Apply', 'cert-manager.io/v1', {
    'f:metadata': { 'f:labels': {} },
    'f:spec': {},
  });
  const cert = (
    rv: string,
    extra: { managed: Obj[]; spec?: Obj; status?: Obj; finalizers?: string[]; generation?: number },
  ): Obj => ({
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: {
      name: 'shop-tls',
      namespace: 'shop',
      uid,
      resourceVersion: rv,
      generation: extra.generation ?? 1,
      creationTimestamp: SECOND,
      labels: FLUX_LABELS,
      ...(extra.finalizers ? { finalizers: extra.finalizers } : {}),
      managedFields: apiserverOrder(extra.managed),
    },
    spec: clone(extra.spec ?? spec),
    ...(extra.status ? { status: clone(extra.status) } : {}),
  });
  const c1 = cert('5001', { managed: [fluxEntry] });
  add(
    audit({
      verb: 'patch',
      uri: `${CERT_PATH}?fieldManager=kustomize-controller&force=true`,
      user: FLUX_SA,
      groups: saGroups('flux-system'),
      ua: FLUX_UA,
      ref: certRef,
      code: 201,
      request: {
        apiVersion: 'cert-manager.io/v1',
        kind: 'Certificate',
        metadata: { name: 'shop-tls', namespace: 'shop', labels: FLUX_LABELS },
        spec,
      },
      response: c1,
    }),
    { kind: 'gitops', name: FLUX_SA, tool: 'flux', manager: 'kustomize-controller', drift: false },
  );
  const status = {
    conditions: [
      {
        type: 'Ready',
        status: 'False',
        reason: 'DoesNotExist',
        message: 'Issuing certificate as Secret does not exist',
        observedGeneration: 1,
      },
    ],
  };
  const cmEntry = entry(
    'cert-manager-certificates-readiness',
    'Update',
    'cert-manager.io/v1',
    { 'f:status': { 'f:conditions': {} } },
    'status',
  );
  const c2 = cert('5002', { managed: [fluxEntry, cmEntry], status });
  add(
    audit({
      verb: 'update',
      uri: `${CERT_PATH}/status`,
      user: CM_SA,
      groups: saGroups('cert-manager'),
      ua: CM_UA,
      ref: { ...certRef, subresource: 'status', uid, resourceVersion: '5001' },
      request: { ...clone(c1), status },
      response: c2,
    }),
    {
      kind: 'controller',
      name: CM_SA,
      tool: 'cert-manager',
      manager: 'cert-manager-certificates-readiness',
      drift: false,
      change: 'status',
    },
  );
  const fin = ['platform.example.com/cert-guard'];
  const opEntry = entry('cert-guard', 'Update', 'cert-manager.io/v1', { 'f:metadata': { 'f:finalizers': {} } });
  const c3 = cert('5003', { managed: [fluxEntry, cmEntry, opEntry], status, finalizers: fin });
  const put3 = clone(c2);
  put3.metadata.finalizers = fin;
  add(
    audit({
      verb: 'update',
      uri: CERT_PATH,
      user: OPERATOR_SA,
      groups: saGroups('platform'),
      ua: OPERATOR_UA,
      ref: { ...certRef, uid, resourceVersion: '5002' },
      request: put3,
      response: c3,
    }),
    {
      kind: 'controller',
      name: OPERATOR_SA,
      tool: 'cert-guard',
      manager: 'cert-guard',
      drift: false,
      change: 'metadata',
    },
  );
  const spec4 = { ...clone(spec), dnsNames: ['shop.example.com', 'www.shop.example.com'] };
  const kubectlEntry = entry('kubectl-patch', 'Update', 'cert-manager.io/v1', { 'f:spec': { 'f:dnsNames': {} } });
  const c4 = cert('5004', {
    managed: [fluxEntry, cmEntry, opEntry, kubectlEntry],
    status,
    finalizers: fin,
    spec: spec4,
    generation: 2,
  });
  add(
    audit({
      verb: 'patch',
      uri: `${CERT_PATH}?fieldManager=kubectl-patch`,
      user: 'alice@example.com',
      groups: ['platform-admins', 'system:authenticated'],
      ua: KUBECTL_UA,
      ref: certRef,
      request: { spec: { dnsNames: spec4.dnsNames } },
      response: c4,
    }),
    {
      kind: 'human',
      name: 'alice@example.com',
      tool: 'kubectl-patch',
      manager: 'kubectl-patch',
      drift: true,
      change: 'spec',
      critical: true,
    },
  );

  // --- the CRD: Flux applies it, the apiserver's naming and establishing controllers accept it ---
  const crdRef = {
    resource: 'customresourcedefinitions',
    name: CRD_NAME,
    apiGroup: 'apiextensions.k8s.io',
    apiVersion: 'v1',
  };
  const crdUid = '3f0a6f2e-9b1d-4c55-8a8e-5c0d1e2f0002';
  const names = { plural: 'backups', singular: 'backup', kind: 'Backup', listKind: 'BackupList' };
  const crdSpec = {
    group: 'platform.example.com',
    names,
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  };
  const crdFlux = entry('kustomize-controller', 'Apply', 'apiextensions.k8s.io/v1', {
    'f:metadata': { 'f:labels': {} },
    'f:spec': {},
  });
  const apiserverEntry = entry(
    'kube-apiserver',
    'Update',
    'apiextensions.k8s.io/v1',
    { 'f:status': { 'f:acceptedNames': {}, 'f:conditions': {} } },
    'status',
  );
  const crd = (rv: string, managed: Obj[], conditions: Obj[]): Obj => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      uid: crdUid,
      resourceVersion: rv,
      generation: 1,
      creationTimestamp: SECOND,
      labels: FLUX_LABELS,
      managedFields: apiserverOrder(managed),
    },
    spec: clone(crdSpec),
    status: {
      acceptedNames: conditions.length > 0 ? names : { plural: '', kind: '' },
      conditions,
      storedVersions: ['v1'],
    },
  });
  const d1 = crd('6001', [crdFlux], []);
  add(
    audit({
      verb: 'patch',
      uri: `${CRD_PATH}?fieldManager=kustomize-controller&force=true`,
      user: FLUX_SA,
      groups: saGroups('flux-system'),
      ua: FLUX_UA,
      ref: crdRef,
      code: 201,
      request: {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: CRD_NAME, labels: FLUX_LABELS },
        spec: crdSpec,
      },
      response: d1,
    }),
    { kind: 'gitops', name: FLUX_SA, tool: 'flux', manager: 'kustomize-controller', drift: false },
  );
  const namesAccepted = {
    type: 'NamesAccepted',
    status: 'True',
    reason: 'NoConflicts',
    message: 'no conflicts found',
    lastTransitionTime: SECOND,
  };
  const established = {
    type: 'Established',
    status: 'True',
    reason: 'InitialNamesAccepted',
    message: 'the initial names have been accepted',
    lastTransitionTime: SECOND,
  };
  const d2 = crd('6002', [crdFlux, apiserverEntry], [namesAccepted]);
  const d3 = crd('6003', [crdFlux, apiserverEntry], [namesAccepted, established]);
  for (const [prev, next] of [
    [d1, d2],
    [d2, d3],
  ] as const) {
    add(
      audit({
        verb: 'update',
        uri: `${CRD_PATH}/status`,
        user: 'system:apiserver',
        groups: ['system:masters'],
        ua: APISERVER_UA,
        ref: { ...crdRef, subresource: 'status', uid: crdUid, resourceVersion: prev.metadata.resourceVersion },
        request: { ...clone(prev), status: next.status },
        response: next,
      }),
      {
        kind: 'system',
        name: 'system:apiserver',
        tool: 'kube-apiserver',
        manager: 'kube-apiserver',
        drift: false,
        change: 'status',
      },
    );
  }
  return { events, want };
}

type Doc = StoredDoc;

describe('attribution by the request, drift by the managers, end to end (webhook → Redis → workers → Elasticsearch)', () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline(uniquePrefix('actor'), { workers: 2 });
  });
  after(async () => p?.close());

  async function deliver(cluster: string, batches: Obj[][], sequential: boolean): Promise<Doc[]> {
    const post = async (items: Obj[]) => {
      const res = await fetch(`${p.url}/audit/${cluster}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: eventList(items),
      });
      assert.equal(res.status, 200, await res.text());
    };
    if (sequential) {
      for (const b of batches) {
        await post(b);
        await p.idle();
      }
    } else await Promise.all(batches.map(post));
    await p.idle();
    return p.search({ term: { 'orchestrator.cluster.name': cluster } });
  }

  function check(label: string, docs: Doc[], want: Map<string, Want>): void {
    assert.equal(docs.length, want.size, `${label}: one record per write`);
    for (const d of docs) {
      const s = d._source;
      const w = want.get(s.event.id);
      assert.ok(w, `${label}: unexpected record ${s.event.id}`);
      const what = `${label}: ${s.event.id} ${s.event.action} by ${s.kubernetes.audit.user.username}`;
      const actor: Record<string, unknown> = { kind: w.kind, name: w.name, tool: w.tool };
      if (w.manager) actor.manager = w.manager;
      if (w.impersonator) actor.impersonator = w.impersonator;
      assert.deepEqual(s.crtrail.actor, actor, what);
      assert.equal(s.user.name, w.name, what);
      assert.equal(s.crtrail.change.drift, w.drift, `${what}: drift`);
      if (w.change) assert.equal(s.crtrail.change.kind, w.change, `${what}: change kind`);
      if (w.critical !== undefined) assert.equal(s.crtrail.change.critical, w.critical, `${what}: critical`);
    }
  }

  test('delivered in order, one batch after the other', async () => {
    const { events, want } = stream();
    check(
      'in order',
      await deliver(
        'actor-ordered',
        events.map((e) => [e]),
        true,
      ),
      want,
    );
  });

  test('delivered shuffled (reversed in one batch; two HA apiservers in concurrent batches): the same actors and drift', async () => {
    const { events, want } = stream();
    check('reversed', await deliver('actor-reversed', [[...events].reverse()], true), want);
    for (const seed of [7, 23]) {
      check(`shuffled ${seed}`, await deliver(`actor-shuffled-${seed}`, haBatches(events, seed, 2), false), want);
    }
  });

  test('the actor fields are mapped keywords: records are found by manager and impersonator', async () => {
    const { events } = stream();
    // kubectl --as=bob by a cluster admin, on the same Certificate.
    const last = events[3]!;
    const asBob = {
      ...clone(last),
      auditID: '7a1c0000-0000-4000-8000-0000000000bb',
      user: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
      impersonatedUser: { username: 'bob', groups: ['system:authenticated'] },
    };
    const docs = await deliver('actor-impersonation', [[asBob]], true);
    assert.equal(docs.length, 1);
    assert.deepEqual(docs[0]!._source.crtrail.actor, {
      kind: 'human',
      name: 'bob',
      tool: 'kubectl-patch',
      manager: 'kubectl-patch',
      impersonator: 'kubernetes-admin',
    });
    const cluster = { term: { 'orchestrator.cluster.name': 'actor-impersonation' } };
    assert.equal(
      await p.count({ bool: { filter: [cluster, { term: { 'crtrail.actor.impersonator': 'kubernetes-admin' } }] } }),
      1,
    );
    assert.equal(
      await p.count({ bool: { filter: [cluster, { term: { 'crtrail.actor.manager': 'kubectl-patch' } }] } }),
      1,
    );
    assert.equal(await p.count({ bool: { filter: [cluster, { term: { 'crtrail.actor.impersonator': 'bob' } }] } }), 0);
  });
});
