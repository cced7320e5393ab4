import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent, KubeObject } from '@crtrail/audit';
import { checkConfigText, defaultConfig } from '@crtrail/config';
import {
  classifyActor,
  detectDrift,
  gitopsManagersOf,
  managerFromUserAgent,
  requestFieldManager,
  type Actor,
} from '../src/index.js';

const config = defaultConfig();

// Identities as they appear in real audit logs: examples/audit/public (OpenShift 4.12 / kube 1.25,
// falco, audit2rbac), Flux (`kustomize-controller/v0.0.0 (linux/amd64) kubernetes/$Format`,
// `?fieldManager=kustomize-controller&force=true`), Argo CD (`argocd-application-controller/v0.0.0
// (linux/amd64) kubernetes/$Format`, SSA manager `argocd-controller`), cert-manager (userAgent
// `cert-manager-<controller>/<version> (<platform>) cert-manager/<commit>`, manager = its prefix).
const SA_GROUPS = (ns: string) => ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'];
const FLUX_SA = 'system:serviceaccount:flux-system:kustomize-controller';
const FLUX_UA = 'kustomize-controller/v0.0.0 (linux/amd64) kubernetes/$Format';
const HELM_CONTROLLER_UA = 'helm-controller/v0.0.0 (linux/amd64) kubernetes/$Format';
const ARGO_SA = 'system:serviceaccount:argocd:argocd-application-controller';
const ARGO_UA = 'argocd-application-controller/v0.0.0 (linux/amd64) kubernetes/$Format';
const CM_SA = 'system:serviceaccount:cert-manager:cert-manager';
const CM_UA =
  'cert-manager-certificates-readiness/v1.16.2 (linux/amd64) cert-manager/a3a5d5b7c1c3e2f4b6a8d0e2c4b6a8d0e2c4b6a8';
const APISERVER_UA = 'kube-apiserver/v1.25.8+27e744f (linux/amd64) kubernetes/df8a1b9';
const KUBECTL_UA = 'kubectl/v1.29.3 (linux/amd64) kubernetes/6813625';
const KSERVE_SA = 'system:serviceaccount:kserve:kserve-controller-manager';
const KSERVE_UA = 'manager/v0.0.0 (linux/amd64) kubernetes/$Format';

const CERT = '/apis/cert-manager.io/v1/namespaces/shop/certificates/shop-tls';
const CRD = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/kustomizations.kustomize.toolkit.fluxcd.io';

/**
 * A response whose managedFields' newest entry (same second) belongs to another writer — Flux —
 * the situation that misled the old classifier: the request, not this, decides.
 */
const fluxManagedResponse = (writer: string, subresource?: string): KubeObject => ({
  apiVersion: 'cert-manager.io/v1',
  kind: 'Certificate',
  metadata: {
    name: 'shop-tls',
    namespace: 'shop',
    // In the apiserver's order (operation, then second, then manager): Flux's Apply comes first.
    managedFields: [
      {
        manager: 'kustomize-controller',
        operation: 'Apply',
        time: '2026-11-02T10:00:07Z',
        fieldsV1: { 'f:metadata': {}, 'f:spec': {} },
      },
      {
        manager: writer,
        operation: 'Update',
        time: '2026-11-02T10:00:07Z',
        ...(subresource ? { subresource } : {}),
        fieldsV1: { 'f:status': {} },
      },
    ],
  },
});

interface Row {
  what: string;
  user?: string;
  groups?: string[];
  ua?: string;
  uri?: string;
  impersonated?: string;
  response?: KubeObject;
  want: Actor;
}

const rows: Row[] = [
  // --- the three writes the old (managedFields-based) classifier called `gitops` ---
  {
    what: 'system:apiserver (CRD naming/establishing controllers) updates status conditions of a Flux-applied CRD',
    user: 'system:apiserver',
    groups: ['system:masters'],
    ua: APISERVER_UA,
    uri: `${CRD}/status`,
    response: {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: {
        managedFields: [
          { manager: 'kustomize-controller', operation: 'Apply', time: '2026-11-02T10:00:01Z' },
          { manager: 'kube-apiserver', operation: 'Update', subresource: 'status', time: '2026-11-02T10:00:01Z' },
        ],
      },
    },
    want: { kind: 'system', name: 'system:apiserver', tool: 'kube-apiserver', manager: 'kube-apiserver' },
  },
  {
    what: "cert-manager updates a Flux-managed Certificate's status (SSA, fieldManager)",
    user: CM_SA,
    groups: SA_GROUPS('cert-manager'),
    ua: CM_UA,
    uri: `${CERT}/status?fieldManager=cert-manager-certificates-readiness&force=true`,
    response: fluxManagedResponse('cert-manager-certificates-readiness', 'status'),
    want: { kind: 'controller', name: CM_SA, tool: 'cert-manager', manager: 'cert-manager-certificates-readiness' },
  },
  {
    what: "cert-manager PUTs status without a fieldManager: the apiserver's default from the userAgent",
    user: CM_SA,
    groups: SA_GROUPS('cert-manager'),
    ua: CM_UA,
    uri: `${CERT}/status`,
    response: fluxManagedResponse('cert-manager-certificates-readiness', 'status'),
    want: { kind: 'controller', name: CM_SA, tool: 'cert-manager', manager: 'cert-manager-certificates-readiness' },
  },
  {
    what: 'an operator adds its finalizer to a Flux-managed object',
    user: KSERVE_SA,
    groups: SA_GROUPS('kserve'),
    ua: KSERVE_UA,
    uri: '/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fraud-model',
    response: fluxManagedResponse('manager'),
    want: { kind: 'controller', name: KSERVE_SA, tool: 'manager', manager: 'manager' },
  },
  // --- GitOps ---
  {
    what: 'Flux kustomize-controller server-side apply',
    user: FLUX_SA,
    groups: SA_GROUPS('flux-system'),
    ua: FLUX_UA,
    uri: `${CERT}?fieldManager=kustomize-controller&force=true`,
    want: { kind: 'gitops', name: FLUX_SA, tool: 'flux', manager: 'kustomize-controller' },
  },
  {
    what: 'Flux helm-controller',
    user: 'system:serviceaccount:flux-system:helm-controller',
    groups: SA_GROUPS('flux-system'),
    ua: HELM_CONTROLLER_UA,
    uri: `${CERT}?fieldManager=helm-controller`,
    want: {
      kind: 'gitops',
      name: 'system:serviceaccount:flux-system:helm-controller',
      tool: 'flux',
      manager: 'helm-controller',
    },
  },
  {
    what: "Flux multi-tenancy: kustomize-controller impersonates the tenant's service account",
    user: FLUX_SA,
    groups: SA_GROUPS('flux-system'),
    impersonated: 'system:serviceaccount:team-a:flux-reconciler',
    ua: FLUX_UA,
    uri: `${CERT}?fieldManager=kustomize-controller&force=true`,
    want: {
      kind: 'gitops',
      name: 'system:serviceaccount:team-a:flux-reconciler',
      tool: 'flux',
      manager: 'kustomize-controller',
      impersonator: FLUX_SA,
    },
  },
  {
    what: 'Flux installed in another namespace: known by its userAgent and field manager',
    user: 'system:serviceaccount:gitops:kustomize-controller',
    groups: SA_GROUPS('gitops'),
    ua: FLUX_UA,
    uri: `${CERT}?fieldManager=kustomize-controller&force=true`,
    want: {
      kind: 'gitops',
      name: 'system:serviceaccount:gitops:kustomize-controller',
      tool: 'flux',
      manager: 'kustomize-controller',
    },
  },
  {
    what: 'Argo CD server-side apply sync',
    user: ARGO_SA,
    groups: SA_GROUPS('argocd'),
    ua: ARGO_UA,
    uri: `${CERT}?fieldManager=argocd-controller&force=true`,
    want: { kind: 'gitops', name: ARGO_SA, tool: 'argocd', manager: 'argocd-controller' },
  },
  {
    what: 'Argo CD client-side apply sync (no fieldManager: manager from the userAgent)',
    user: ARGO_SA,
    groups: SA_GROUPS('argocd'),
    ua: ARGO_UA,
    uri: CERT,
    want: { kind: 'gitops', name: ARGO_SA, tool: 'argocd', manager: 'argocd-application-controller' },
  },
  {
    what: 'argocd-server (the API/UI) is not the reconciler',
    user: 'system:serviceaccount:argocd:argocd-server',
    groups: SA_GROUPS('argocd'),
    ua: 'argocd-server/v0.0.0 (linux/amd64) kubernetes/$Format',
    uri: '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/shop',
    want: {
      kind: 'controller',
      name: 'system:serviceaccount:argocd:argocd-server',
      tool: 'argocd',
      manager: 'argocd-server',
    },
  },
  // --- people ---
  {
    what: 'a person with kubectl patch',
    user: 'alice@example.com',
    groups: ['platform-admins', 'system:authenticated'],
    ua: KUBECTL_UA,
    uri: `${CERT}?fieldManager=kubectl-patch`,
    response: fluxManagedResponse('kubectl-patch'),
    want: { kind: 'human', name: 'alice@example.com', tool: 'kubectl-patch', manager: 'kubectl-patch' },
  },
  {
    what: 'OIDC user with kubectl edit',
    user: 'oidc:alice',
    groups: ['oidc:sre', 'system:authenticated'],
    ua: KUBECTL_UA,
    uri: `${CERT}?fieldManager=kubectl-edit`,
    want: { kind: 'human', name: 'oidc:alice', tool: 'kubectl-edit', manager: 'kubectl-edit' },
  },
  {
    what: 'kubectl 1.17 sends no fieldManager (falco sample)',
    user: 'minikube-user',
    groups: ['system:masters', 'system:authenticated'],
    ua: 'kubectl/v1.17.3 (darwin/amd64) kubernetes/06ad960',
    uri: CERT,
    want: { kind: 'human', name: 'minikube-user', tool: 'kubectl', manager: 'kubectl' },
  },
  {
    what: "a person claiming Flux's field manager is still a person",
    user: 'alice@example.com',
    groups: ['platform-admins', 'system:authenticated'],
    ua: KUBECTL_UA,
    uri: `${CERT}?fieldManager=kustomize-controller&force=true`,
    want: { kind: 'human', name: 'alice@example.com', tool: 'kustomize-controller', manager: 'kustomize-controller' },
  },
  {
    what: "a person's script sending Flux's userAgent and field manager is still a person",
    user: 'alice@example.com',
    ua: FLUX_UA,
    uri: `${CERT}?fieldManager=kustomize-controller&force=true`,
    want: { kind: 'human', name: 'alice@example.com', tool: 'flux', manager: 'kustomize-controller' },
  },
  {
    what: 'k9s (client-go default userAgent of the k9s binary)',
    user: 'bob@example.com',
    ua: 'k9s/v0.32.7 (darwin/arm64) kubernetes/$Format',
    uri: CERT,
    want: { kind: 'human', name: 'bob@example.com', tool: 'k9s', manager: 'k9s' },
  },
  {
    what: 'OpenShift kube:admin with oc (OpenShift sample)',
    user: 'kube:admin',
    groups: ['system:cluster-admins', 'system:authenticated'],
    ua: 'oc/4.12.0 (linux/amd64) kubernetes/31aa3e8',
    uri: CERT,
    want: { kind: 'human', name: 'kube:admin', tool: 'oc', manager: 'oc' },
  },
  {
    what: 'Helm 3 from a laptop',
    user: 'alice@example.com',
    ua: 'Helm/3.16.2',
    uri: `${CERT}?fieldManager=helm`,
    want: { kind: 'human', name: 'alice@example.com', tool: 'helm', manager: 'helm' },
  },
  {
    what: 'Terraform (manager is the userAgent up to its first slash)',
    user: 'bob',
    ua: 'HashiCorp Terraform/1.9.0 (+https://www.terraform.io) terraform-provider-kubernetes/2.31.0',
    uri: CERT,
    want: { kind: 'human', name: 'bob', tool: 'terraform', manager: 'HashiCorp Terraform' },
  },
  // --- service-account tokens in a person's hands ---
  {
    what: 'a CI service account token used from kubectl',
    user: 'system:serviceaccount:ci:deployer',
    groups: SA_GROUPS('ci'),
    ua: KUBECTL_UA,
    uri: `${CERT}?fieldManager=kubectl-client-side-apply`,
    want: {
      kind: 'serviceaccount',
      name: 'system:serviceaccount:ci:deployer',
      tool: 'kubectl-client-side-apply',
      manager: 'kubectl-client-side-apply',
    },
  },
  {
    what: "Flux's own token used from kubectl is not Flux",
    user: FLUX_SA,
    groups: SA_GROUPS('flux-system'),
    ua: KUBECTL_UA,
    uri: `${CERT}?fieldManager=kubectl-patch`,
    want: { kind: 'serviceaccount', name: FLUX_SA, tool: 'kubectl-patch', manager: 'kubectl-patch' },
  },
  // --- impersonation ---
  {
    what: 'kubectl --as=bob by a cluster admin',
    user: 'kubernetes-admin',
    groups: ['system:masters', 'system:authenticated'],
    impersonated: 'bob',
    ua: KUBECTL_UA,
    uri: `${CERT}?fieldManager=kubectl-patch`,
    want: {
      kind: 'human',
      name: 'bob',
      tool: 'kubectl-patch',
      manager: 'kubectl-patch',
      impersonator: 'kubernetes-admin',
    },
  },
  {
    what: 'system:admin impersonating bob, no userAgent (audit2rbac sample)',
    user: 'system:admin',
    impersonated: 'bob',
    uri: CERT,
    want: { kind: 'human', name: 'bob', tool: 'unknown', impersonator: 'system:admin' },
  },
  {
    what: 'kubectl --as=<Flux service account> by a person',
    user: 'alice@example.com',
    impersonated: FLUX_SA,
    ua: KUBECTL_UA,
    uri: `${CERT}?fieldManager=kubectl-patch`,
    want: {
      kind: 'serviceaccount',
      name: FLUX_SA,
      tool: 'kubectl-patch',
      manager: 'kubectl-patch',
      impersonator: 'alice@example.com',
    },
  },
  // --- control plane and other controllers ---
  {
    what: 'kube-controller-manager',
    user: 'system:kube-controller-manager',
    ua: 'kube-controller-manager/v1.29.3 (linux/amd64) kubernetes/6813625/system:serviceaccount:kube-system:generic-garbage-collector',
    uri: CERT,
    want: {
      kind: 'system',
      name: 'system:kube-controller-manager',
      tool: 'kube-controller-manager',
      manager: 'kube-controller-manager',
    },
  },
  {
    what: 'kube-scheduler (OpenShift sample)',
    user: 'system:kube-scheduler',
    ua: 'kube-scheduler/v1.25.8+27e744f (linux/amd64) kubernetes/df8a1b9/scheduler',
    uri: CERT,
    want: { kind: 'system', name: 'system:kube-scheduler', tool: 'kube-scheduler', manager: 'kube-scheduler' },
  },
  {
    what: 'a kubelet (OpenShift sample)',
    user: 'system:node:oscar7',
    groups: ['system:nodes', 'system:authenticated'],
    ua: 'kubelet/v1.25.8+27e744f (linux/amd64) kubernetes/df8a1b9',
    uri: CERT,
    want: { kind: 'system', name: 'system:node:oscar7', tool: 'kubelet', manager: 'kubelet' },
  },
  {
    what: "EKS's add-on manager (a managed control plane's component: EKS reserves the eks: prefix)",
    user: 'eks:addon-manager',
    groups: ['system:authenticated'],
    ua: 'eks-addon-manager/v1.29.0-eks-1234567 (linux/amd64) kubernetes/$Format',
    uri: CERT,
    want: { kind: 'system', name: 'eks:addon-manager', tool: 'eks-addon-manager', manager: 'eks-addon-manager' },
  },
  {
    what: "EKS's node manager, no userAgent",
    user: 'eks:node-manager',
    uri: CERT,
    want: { kind: 'system', name: 'eks:node-manager', tool: 'unknown' },
  },
  {
    what: 'a person whose name only contains eks: is still a person',
    user: 'alice-eks:admin',
    ua: KUBECTL_UA,
    uri: `${CERT}?fieldManager=kubectl-edit`,
    want: { kind: 'human', name: 'alice-eks:admin', tool: 'kubectl-edit', manager: 'kubectl-edit' },
  },
  {
    what: 'a kube-system controller with service-account credentials and no userAgent (falco sample)',
    user: 'system:serviceaccount:kube-system:replicaset-controller',
    uri: CERT,
    want: { kind: 'controller', name: 'system:serviceaccount:kube-system:replicaset-controller', tool: 'unknown' },
  },
  {
    what: 'an operator (OpenShift sample)',
    user: 'system:serviceaccount:kafka:strimzi-cluster-operator',
    ua: 'strimzi-cluster-operator/0.35.1',
    uri: CERT,
    want: {
      kind: 'controller',
      name: 'system:serviceaccount:kafka:strimzi-cluster-operator',
      tool: 'strimzi-cluster-operator',
      manager: 'strimzi-cluster-operator',
    },
  },
  {
    what: 'anonymous',
    user: 'system:anonymous',
    groups: ['system:unauthenticated'],
    ua: 'Go-http-client/1.1',
    uri: CERT,
    want: { kind: 'unknown', name: 'system:anonymous', tool: 'go-client', manager: 'Go-http-client' },
  },
  {
    what: 'no identity at all',
    uri: CERT,
    want: { kind: 'unknown', name: 'unknown', tool: 'unknown' },
  },
];

function event(
  r: Pick<Row, 'user' | 'groups' | 'ua' | 'uri' | 'impersonated' | 'response'>,
  extra: Partial<AuditEvent> = {},
): AuditEvent {
  return {
    level: 'RequestResponse',
    auditID: 'a',
    stage: 'ResponseComplete',
    requestURI: r.uri ?? '/',
    verb: 'patch',
    user: r.user === undefined ? {} : { username: r.user, groups: r.groups ?? ['system:authenticated'] },
    ...(r.impersonated ? { impersonatedUser: { username: r.impersonated, groups: ['system:authenticated'] } } : {}),
    ...(r.ua ? { userAgent: r.ua } : {}),
    ...(r.response ? { responseObject: r.response } : {}),
    ...extra,
  };
}

test('actor by the request: kind, effective name, tool, manager, impersonator', () => {
  for (const r of rows) assert.deepEqual(classifyActor(event(r), config), r.want, r.what);
});

test("the response's managedFields never change who wrote", () => {
  const flux: KubeObject = {
    metadata: {
      managedFields: [{ manager: 'kustomize-controller', operation: 'Apply', time: '2099-01-01T00:00:00Z' }],
    },
  };
  for (const r of rows) {
    // The old call shape still works and still ignores the object.
    assert.deepEqual(classifyActor(event(r), flux, config), r.want, `${r.what} (object argument)`);
    // The same request with every managedFields entry rewritten to Flux's, and without a body.
    assert.deepEqual(classifyActor(event({ ...r, response: flux }), config), r.want, r.what);
    assert.deepEqual(classifyActor(event({ ...r, response: undefined }), config), r.want, r.what);
  }
});

test("managerFromUserAgent: the apiserver's default field manager (prefixFromUserAgent)", () => {
  const cases: Array<[string, string]> = [
    ['kubectl/v1.17.3 (darwin/amd64) kubernetes/06ad960', 'kubectl'],
    [KUBECTL_UA, 'kubectl'],
    [FLUX_UA, 'kustomize-controller'],
    [ARGO_UA, 'argocd-application-controller'],
    [CM_UA, 'cert-manager-certificates-readiness'],
    ['Helm/3.16.2', 'Helm'],
    ['HashiCorp Terraform/1.9.0 (+https://www.terraform.io)', 'HashiCorp Terraform'],
    ['', ''],
    ['no-slash-at-all', 'no-slash-at-all'],
    ['tab\there\u0000/1', 'tabhere'],
    ['x'.repeat(200), 'x'.repeat(128)],
    // 127 ASCII bytes + a 2-byte rune would be 129: the rune is left out, as the apiserver does.
    [`${'a'.repeat(127)}é/1`, 'a'.repeat(127)],
  ];
  for (const [ua, want] of cases) assert.equal(managerFromUserAgent(ua), want, JSON.stringify(ua));
});

test('requestFieldManager: the URL-decoded fieldManager parameter, else the userAgent default', () => {
  const e = (uri: string, ua = KUBECTL_UA) => event({ user: 'alice', uri, ua });
  assert.equal(requestFieldManager(e(`${CERT}?dryRun=All&fieldManager=kubectl-edit`)), 'kubectl-edit');
  assert.equal(requestFieldManager(e(`${CERT}?fieldManager=my%2Fdeployer%20v2`)), 'my/deployer v2');
  assert.equal(requestFieldManager(e(`${CERT}?fieldManager=`)), 'kubectl', 'empty parameter: the default');
  assert.equal(requestFieldManager(e(CERT)), 'kubectl');
  assert.equal(requestFieldManager(e(CERT, '')), '');
});

// ----------------------------------------------------------------------------------------------
// Drift: who manages the object (managedFields, tracking marks) vs who wrote (the request).

const entry = (manager: string, operation: 'Apply' | 'Update', fields: string[], subresource?: string) => ({
  manager,
  operation,
  apiVersion: 'cert-manager.io/v1',
  time: '2026-11-02T10:00:00Z',
  fieldsType: 'FieldsV1',
  fieldsV1: Object.fromEntries(fields.map((f) => [f, {}])),
  ...(subresource ? { subresource } : {}),
});
const obj = (managedFields: unknown[], labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'cert-manager.io/v1',
  kind: 'Certificate',
  metadata: {
    name: 'shop-tls',
    namespace: 'shop',
    labels,
    managedFields: managedFields as Array<Record<string, unknown>>,
  },
});
const FLUX_SSA = entry('kustomize-controller', 'Apply', ['f:metadata', 'f:spec']);
const fluxManaged = obj([FLUX_SSA, entry('cert-manager-certificates-readiness', 'Update', ['f:status'], 'status')]);
const argoCsaManaged = obj([entry('argocd-application-controller', 'Update', ['f:metadata', 'f:spec'])]);
/** A Flux Kustomization a person created: kustomize-controller only writes its status. */
const fluxStatusOnly = obj([
  entry('kubectl-client-side-apply', 'Update', ['f:metadata', 'f:spec']),
  entry('kustomize-controller', 'Update', ['f:status'], 'status'),
]);
/** An Argo CD Application a person created: the controller writes its status on the main resource. */
const argoStatusOnly = obj([
  entry('kubectl-create', 'Update', ['f:spec']),
  entry('argocd-application-controller', 'Update', ['f:status']),
]);
/** Managed fields omitted by the audit policy (`omitManagedFields`): Flux's labels still tell. */
const fluxByLabels = obj([], {
  'kustomize.toolkit.fluxcd.io/name': 'apps',
  'kustomize.toolkit.fluxcd.io/namespace': 'flux-system',
});
const plain = obj([entry('kubectl-client-side-apply', 'Update', ['f:metadata', 'f:spec'])]);

test('gitopsManagersOf: configured managers from managedFields and tracking marks, not status writers', () => {
  assert.deepEqual([...gitopsManagersOf(fluxManaged, config)], ['flux']);
  assert.deepEqual([...gitopsManagersOf(argoCsaManaged, config)], ['argocd']);
  assert.deepEqual([...gitopsManagersOf(obj([entry('argocd-controller', 'Apply', ['f:spec'])]), config)], ['argocd']);
  assert.deepEqual([...gitopsManagersOf(fluxByLabels, config)], ['flux']);
  assert.deepEqual(
    [...gitopsManagersOf(fluxStatusOnly, config)],
    [],
    'a status subresource writer does not manage the object',
  );
  assert.deepEqual(
    [...gitopsManagersOf(argoStatusOnly, config)],
    [],
    'owning only f:status does not manage the object',
  );
  assert.deepEqual([...gitopsManagersOf(plain, config)], []);
  assert.deepEqual([...gitopsManagersOf(undefined, config)], []);
  const custom = checkConfigText(
    'actors:\n  gitops:\n    - { name: fleet, manager: "^fleet-agent$", username: "^system:serviceaccount:cattle-fleet-system:fleet-agent$" }\n',
    'c.yaml',
  );
  assert.ok(custom.ok);
  assert.deepEqual(
    [...gitopsManagersOf(obj([entry('fleet-agent', 'Apply', ['f:spec'])]), custom.config)],
    ['fleet'],
    'configured managers',
  );
});

test('drift: a GitOps-managed object changed by someone other than a GitOps tool, by the request', () => {
  const actorOf = (r: Pick<Row, 'user' | 'groups' | 'ua' | 'uri' | 'impersonated'>) => classifyActor(event(r), config);
  const human = actorOf({ user: 'alice@example.com', ua: KUBECTL_UA, uri: `${CERT}?fieldManager=kubectl-patch` });
  const flux = actorOf({ user: FLUX_SA, ua: FLUX_UA, uri: `${CERT}?fieldManager=kustomize-controller&force=true` });
  const argo = actorOf({ user: ARGO_SA, ua: ARGO_UA, uri: CERT });
  const certManager = actorOf({ user: CM_SA, ua: CM_UA, uri: `${CERT}/status` });
  const operator = actorOf({ user: KSERVE_SA, ua: KSERVE_UA, uri: CERT });
  const apiserver = actorOf({ user: 'system:apiserver', ua: APISERVER_UA, uri: `${CRD}/status` });
  const saToken = actorOf({
    user: 'system:serviceaccount:ci:deployer',
    ua: KUBECTL_UA,
    uri: `${CERT}?fieldManager=kubectl-label`,
  });
  const fluxTokenFromKubectl = actorOf({ user: FLUX_SA, ua: KUBECTL_UA, uri: `${CERT}?fieldManager=kubectl-patch` });
  const asFlux = actorOf({
    user: 'alice@example.com',
    impersonated: FLUX_SA,
    ua: KUBECTL_UA,
    uri: `${CERT}?fieldManager=kubectl-patch`,
  });
  const claimsFlux = actorOf({
    user: 'alice@example.com',
    ua: KUBECTL_UA,
    uri: `${CERT}?fieldManager=kustomize-controller&force=true`,
  });
  const change = (kind: string, dry_run = false) => ({ kind, dry_run });
  const cases: Array<
    [
      string,
      KubeObject | undefined,
      KubeObject | undefined,
      { kind: string },
      { kind: string; dry_run: boolean; paths?: string[] },
      boolean,
      boolean,
    ]
  > = [
    // what, previous, next, writer, change, succeeded, drift
    ['a person patches spec of a Flux-managed object', fluxManaged, fluxManaged, human, change('spec'), true, true],
    [
      'a person patches spec of an Argo CD (client-side apply) object',
      argoCsaManaged,
      argoCsaManaged,
      human,
      change('spec'),
      true,
      true,
    ],
    ['a person deletes a Flux-managed object', fluxManaged, fluxManaged, human, change('delete'), true, true],
    ['a person relabels a Flux-managed object', fluxManaged, fluxManaged, human, change('metadata'), true, true],
    ["a person claiming Flux's field manager", fluxManaged, fluxManaged, claimsFlux, change('spec'), true, true],
    ['a CI token from kubectl relabels', fluxManaged, fluxManaged, saToken, change('metadata'), true, true],
    ["Flux's token from kubectl", fluxManaged, fluxManaged, fluxTokenFromKubectl, change('spec'), true, true],
    ['kubectl --as=Flux', fluxManaged, fluxManaged, asFlux, change('spec'), true, true],
    ['only the stored state is known to be managed (labels)', fluxByLabels, plain, human, change('spec'), true, true],
    [
      'an operator changes spec of a GitOps-managed object (HPA-like)',
      fluxManaged,
      fluxManaged,
      operator,
      change('spec'),
      true,
      true,
    ],
    ["Flux's own apply", fluxManaged, fluxManaged, flux, change('spec'), true, false],
    ["Argo CD's own sync", argoCsaManaged, argoCsaManaged, argo, change('mixed'), true, false],
    ['cert-manager status write', fluxManaged, fluxManaged, certManager, change('status'), true, false],
    ['an operator adds a finalizer', fluxManaged, fluxManaged, operator, change('metadata'), true, false],
    ['system:apiserver status conditions', fluxManaged, fluxManaged, apiserver, change('status'), true, false],
    ['a person writes status', fluxManaged, fluxManaged, human, change('status'), true, false],
    [
      'an operator PUTs status and its finalizer on the main resource',
      fluxManaged,
      fluxManaged,
      operator,
      { ...change('mixed'), paths: ['/metadata/finalizers', '/status/conditions/0/status'] },
      true,
      false,
    ],
    [
      'a person changes status and a label in one PUT',
      fluxManaged,
      fluxManaged,
      human,
      { ...change('mixed'), paths: ['/metadata/labels/team', '/status/phase'] },
      true,
      true,
    ],
    [
      'an operator changes spec and status in one PUT',
      fluxManaged,
      fluxManaged,
      operator,
      { ...change('mixed'), paths: ['/spec/replicas', '/status/replicas'] },
      true,
      true,
    ],
    ['unmanaged object', plain, plain, human, change('spec'), true, false],
    [
      'Flux Kustomization a person made (status-only GitOps entry)',
      fluxStatusOnly,
      fluxStatusOnly,
      human,
      change('spec'),
      true,
      false,
    ],
    [
      'Argo CD Application a person made (status-only GitOps entry)',
      argoStatusOnly,
      argoStatusOnly,
      human,
      change('spec'),
      true,
      false,
    ],
    ['dry run', fluxManaged, fluxManaged, human, change('spec', true), true, false],
    ['failed write', fluxManaged, fluxManaged, human, change('spec'), false, false],
    ['no-op', fluxManaged, fluxManaged, human, change('noop'), true, false],
    ['create', undefined, fluxManaged, human, change('create'), true, false],
  ];
  for (const [what, previous, next, writer, c, ok, want] of cases) {
    assert.equal(detectDrift(previous, next, writer, c, ok, config), want, what);
  }
  // The writers above are what the request says (guards the table against a classifier change).
  assert.deepEqual(
    [
      human.kind,
      flux.kind,
      argo.kind,
      certManager.kind,
      operator.kind,
      apiserver.kind,
      saToken.kind,
      fluxTokenFromKubectl.kind,
      asFlux.kind,
      claimsFlux.kind,
    ],
    [
      'human',
      'gitops',
      'gitops',
      'controller',
      'controller',
      'system',
      'serviceaccount',
      'serviceaccount',
      'serviceaccount',
      'human',
    ],
  );
});
