/**
 * One realistic stream per class of write shape (issue 19), each a `Story` of one custom resource:
 * the events to deliver and the record each must make.
 */
import { CERT_MANAGER, FLUX, K9S, KUBECTL, MALLORY, OPERATOR, Story, type Written } from './write-shapes.js';

export interface Scenario {
  name: string;
  writes: Written[];
}

const cert = (name: string, seq: number): Story =>
  new Story({
    group: 'cert-manager.io',
    resource: 'certificates',
    kind: 'Certificate',
    namespace: 'web',
    name,
    seq,
    start: Date.UTC(2026, 10, 30, 12, 0, 0) + seq * 60_000,
  });
const widget = (name: string, seq: number, versions?: string[]): Story =>
  new Story({
    group: 'example.com',
    resource: 'widgets',
    kind: 'Widget',
    namespace: 'apps',
    name,
    seq,
    start: Date.UTC(2026, 10, 30, 12, 0, 0) + seq * 60_000,
    ...(versions ? { versions } : {}),
  });

/** 1. Server-side apply that creates (Flux), then applies that change and that change nothing. */
function ssaCreate(): Scenario {
  const s = cert('shop-tls', 100);
  s.ssaCreate(
    FLUX,
    {
      spec: {
        secretName: 'shop-tls',
        dnsNames: ['shop.example.com'],
        issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' },
      },
      labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps' },
    },
    { duration: '2160h0m0s' },
  );
  s.update(
    CERT_MANAGER,
    (o) => {
      o.status = { conditions: [{ type: 'Ready', status: 'False', reason: 'Issuing' }] };
    },
    { sub: 'status' },
  );
  s.mergePatch(FLUX, { spec: { dnsNames: ['shop.example.com', 'www.shop.example.com'] } });
  return { name: 'ssa-create', writes: s.out };
}

/** 3. JSON Patch appends, inserts, move/copy and test (cert-manager-like controllers, kubectl patch --type json). */
function jsonPatch(): Scenario {
  const s = cert('api-tls', 200);
  s.create(KUBECTL, {
    spec: { secretName: 'api-tls', dnsNames: ['api.example.com', 'api2.example.com'], usages: ['digital signature'] },
  });
  s.jsonPatch(KUBECTL, [
    { op: 'test', path: '/spec/secretName', value: 'api-tls' },
    { op: 'add', path: '/spec/dnsNames/-', value: 'api3.example.com' },
  ]);
  s.jsonPatch(OPERATOR, [{ op: 'add', path: '/spec/dnsNames/0', value: 'edge.example.com' }]);
  s.jsonPatch(KUBECTL, [
    { op: 'copy', from: '/spec/secretName', path: '/spec/keystoreName' },
    { op: 'move', from: '/spec/usages', path: '/spec/keyUsages' },
  ]);
  s.rejectedJsonPatch(MALLORY, [
    { op: 'add', path: '/spec/dnsNames/-', value: 'evil.example.com' },
    { op: 'replace', path: '/spec/secretName', value: '' },
  ]);
  return { name: 'json-patch', writes: s.out };
}

/** 4. Failed writes: denied (no body), a 409 apply conflict, then a change that went through. */
function failures(): Scenario {
  const s = widget('payments', 300);
  s.create(OPERATOR, { spec: { replicas: 2, image: 'payments:1.0' } });
  s.denied(MALLORY, 'patch');
  s.denied(MALLORY, 'delete');
  s.applyConflict(K9S, { replicas: 9 });
  s.mergePatch(KUBECTL, { spec: { image: 'payments:1.1' } });
  return { name: 'failures', writes: s.out };
}

/** 5. Subresources: scale (kubectl scale / HPA) and status writes by the operator. */
function subresources(): Scenario {
  const s = widget('frontend', 400);
  s.create(KUBECTL, { spec: { replicas: 1, image: 'frontend:2.0' } });
  s.scale(KUBECTL, 3);
  s.update(
    OPERATOR,
    (o) => {
      o.status = { replicas: 3, ready: 3 };
    },
    { sub: 'status' },
  );
  s.mergePatch(OPERATOR, { status: { ready: 2 } }, { sub: 'status' });
  s.scale(K9S, 0);
  s.mergePatch(KUBECTL, { spec: { image: 'frontend:2.1' } });
  return { name: 'subresources', writes: s.out };
}

/** 6. Deletion with finalizers, and a delete answered by a Status. */
function finalizers(): Scenario {
  const s = widget('db', 500);
  s.create(OPERATOR, { spec: { size: '10Gi' }, finalizers: ['example.com/cleanup'] });
  s.heldDelete(KUBECTL);
  s.removeFinalizers(OPERATOR);
  s.create(OPERATOR, { spec: { size: '20Gi' } });
  s.deleteWithStatus(KUBECTL);
  return { name: 'finalizers', writes: s.out };
}

/** 7. One object written through two served versions. */
function versions(): Scenario {
  const s = widget('cache', 600, ['v1', 'v1beta1']);
  s.create(OPERATOR, { spec: { replicas: 1, engine: 'redis' } });
  s.mergePatch(K9S, { spec: { replicas: 2 } }, { version: 'v1beta1' });
  s.update(
    OPERATOR,
    (o) => {
      o.spec.engine = 'valkey';
    },
    { version: 'v1' },
  );
  s.update(
    KUBECTL,
    (o) => {
      o.metadata.labels = { tier: 'cache' };
    },
    { version: 'v1beta1' },
  );
  s.mergePatch(OPERATOR, { spec: { replicas: 3 } });
  return { name: 'versions', writes: s.out };
}

/** 8. Writes without bodies (Metadata level, truncated) and what follows them. */
function gaps(): Scenario {
  const s = widget('search', 700);
  s.create(OPERATOR, { spec: { replicas: 1, image: 'search:1' } });
  s.unseen(
    MALLORY,
    (o) => {
      o.spec.image = 'search:evil';
    },
    'metadata',
  );
  s.mergePatch(KUBECTL, { spec: { replicas: 4 } });
  s.mergePatch(OPERATOR, { metadata: { labels: { managed: 'yes' } } });
  s.unseen(
    OPERATOR,
    (o) => {
      o.spec.replicas = 5;
    },
    'truncated',
  );
  s.update(K9S, (o) => {
    o.spec.image = 'search:2';
  });
  s.mergePatch(KUBECTL, { spec: { replicas: 6 } });
  return { name: 'gaps', writes: s.out };
}

/** 9. Delete and recreate under the same name; the old incarnation's writes may arrive late. */
function recreate(): Scenario {
  const s = widget('worker', 800);
  s.create(OPERATOR, { spec: { replicas: 1 } });
  s.mergePatch(KUBECTL, { spec: { replicas: 2 } });
  s.deleteWithStatus(KUBECTL);
  s.ssaCreate(FLUX, { spec: { replicas: 5 } });
  s.mergePatch(OPERATOR, { spec: { replicas: 6 } });
  return { name: 'recreate', writes: s.out };
}

export function scenarios(): Scenario[] {
  return [ssaCreate(), jsonPatch(), failures(), subresources(), finalizers(), versions(), gaps(), recreate()];
}
