import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { uniquePrefix } from '@crtrail/testkit';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { eventList } from './helpers/events.js';
import { runCli } from './helpers/cli.js';

const CLUSTER = 'critical-kind';
let n = 0;
let prefixOfIds = 'ck';
const at = (s: number) => `2026-11-05T10:00:${String(s).padStart(2, '0')}.000000Z`;

/** A write as a v1.29 apiserver audits it at RequestResponse. */
function write(
  verb: string,
  ref: Record<string, string>,
  code: number,
  second: number,
  body: { request?: unknown; response?: unknown },
  user = 'alice@example.com',
) {
  n++;
  return {
    level: 'RequestResponse',
    auditID: `${prefixOfIds}-${n}`,
    stage: 'ResponseComplete',
    requestURI: `/apis/${ref.apiGroup}/${ref.apiVersion}/namespaces/${ref.namespace ?? ''}/${ref.resource}/${ref.name ?? ''}`,
    verb,
    user: { username: user, groups: ['system:authenticated'] },
    userAgent: 'kubectl/v1.29.3 (linux/amd64) kubernetes/6813625',
    sourceIPs: ['192.0.2.9'],
    objectRef: ref,
    responseStatus: { metadata: {}, code },
    ...(body.request !== undefined ? { requestObject: body.request } : {}),
    ...(body.response !== undefined ? { responseObject: body.response } : {}),
    requestReceivedTimestamp: at(second),
    stageTimestamp: at(second),
  };
}

/** The CRD of a kind, as `kubectl apply` creates it: it teaches crtrail the resource's kind. */
function crd(group: string, plural: string, kind: string, second: number) {
  const body = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}`, uid: `crd-${plural}`, resourceVersion: '10' },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind },
      versions: [{ name: 'v1', served: true, storage: true }],
    },
  };
  return write(
    'create',
    {
      apiGroup: 'apiextensions.k8s.io',
      apiVersion: 'v1',
      resource: 'customresourcedefinitions',
      name: body.metadata.name,
    },
    201,
    second,
    { request: body, response: body },
    'system:admin',
  );
}

const status = (code: number, reason: string, details: Record<string, unknown>) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: code < 400 ? 'Success' : 'Failure',
  reason,
  code,
  details,
});

describe('critical from the objectRef (issue 19, item 10): the rule follows the object, not the shape of the answer', () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline(uniquePrefix('critical-kind'));
  });
  after(async () => p?.close());

  for (const [label, order] of [
    ['in order, one batch', 'ordered'],
    ['shuffled: the writes before the CRDs in the same batch', 'reversed'],
    ['as two apiservers deliver it: the CRDs in one batch, the writes in another', 'split'],
  ] as const) {
    test(`${label}: a delete answered with a Status, and a refused patch, of objects crtrail never saw are critical through the kind their CRD taught`, async () => {
      const cluster = `${CLUSTER}-${order}`;
      const base = `ck-${order}`;
      n = 0;
      prefixOfIds = base;
      const policyRef = {
        apiGroup: 'security.istio.io',
        apiVersion: 'v1',
        resource: 'authorizationpolicies',
        namespace: 'payments',
        name: 'deny-all',
      };
      const appRef = {
        apiGroup: 'argoproj.io',
        apiVersion: 'v1alpha1',
        resource: 'applications',
        namespace: 'argocd',
        name: 'checkout',
      };
      const events = [
        crd('security.istio.io', 'authorizationpolicies', 'AuthorizationPolicy', 1),
        crd('argoproj.io', 'applications', 'Application', 2),
        // Deleted without finalizers: the answer is a Status naming only the uid.
        write('delete', policyRef, 200, 3, {
          request: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' },
          response: status(200, '', {
            name: 'deny-all',
            group: 'security.istio.io',
            kind: 'authorizationpolicies',
            uid: 'pol-1',
          }),
        }),
        // Refused by an admission policy: the request's change of spec.project is logged, the answer a Status.
        write(
          'patch',
          appRef,
          422,
          4,
          {
            request: { spec: { project: 'default' } },
            response: status(422, 'Invalid', { name: 'checkout', group: 'argoproj.io', kind: 'applications' }),
          },
          'mallory@example.com',
        ),
      ];
      const [crds, writes] = [events.slice(0, 2), events.slice(2)];
      const batches =
        order === 'ordered' ? [events] : order === 'reversed' ? [[...writes].reverse().concat(crds)] : [crds, writes];
      for (const batch of batches) {
        const res = await fetch(`${p.url}/audit/${cluster}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: eventList(batch),
        });
        assert.equal(res.status, 200, await res.text());
      }
      await p.idle();
      const docs = await p.search({ term: { 'orchestrator.cluster.name': cluster } });
      const id = (k: number) => `${base}-${k}`;
      const del = docs.find((d) => d._source.event.id === id(3))!._source;
      assert.equal(del.crtrail.object.kind, 'AuthorizationPolicy', 'the kind from the CRD, not Status');
      assert.equal(del.crtrail.change.critical, true, 'deleting a critical object is critical');
      assert.deepEqual(del.crtrail.change.critical_paths, ['/spec']);
      const denied = docs.find((d) => d._source.event.id === id(4))!._source;
      assert.equal(denied.event.outcome, 'failure');
      assert.equal(denied.crtrail.object.kind, 'Application');
      assert.ok(denied.crtrail.change.paths.includes('/spec/project'), JSON.stringify(denied.crtrail.change));
      assert.equal(denied.crtrail.change.critical, true, 'a refused change of spec.project is a critical attempt');
      assert.deepEqual(denied.crtrail.change.critical_paths, ['/spec/project']);
      // The recorded kinds and critical flags are what verify recomputes.
      const verify = await runCli(['verify', '--cluster', cluster], {
        CRTRAIL_ES_URL: p.env.CRTRAIL_ES_URL,
        CRTRAIL_INDEX_PREFIX: p.prefix,
        CRTRAIL_REDIS_URL: p.env.CRTRAIL_REDIS_URL,
      });
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    });
  }
});
