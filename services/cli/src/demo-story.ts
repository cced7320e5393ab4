import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '@crtrail/audit';

/**
 * A short, realistic day of a platform team, as a v1.29 kube-apiserver audits it at the levels of
 * audit-policy.yaml, with times in the last hour (so `--since now-1h`, `export --since now-1d` and
 * Kibana's default range show it): Flux creates a cert-manager Certificate by server-side apply,
 * cert-manager reports it ready, a human edits it by hand (a GitOps drift touching a critical field),
 * someone without the right is denied a change of an Argo CD Application's project, and the
 * Application is deleted. Every run makes new auditIDs and uids: running it twice tells two stories.
 */

type Obj = Record<string, unknown>;

const KUBECTL_UA = 'kubectl/v1.29.3 (linux/amd64) kubernetes/6813625';
const FLUX_SA = 'system:serviceaccount:flux-system:kustomize-controller';
const FLUX_UA = 'kustomize-controller/v1.3.0 (linux/amd64) kubernetes/$Format';
const CM_SA = 'system:serviceaccount:cert-manager:cert-manager';
const CM_UA =
  'cert-manager-certificates-readiness/v1.14.4 (linux/amd64) cert-manager/f09ca1a7b6d2f2bd27f9bd4f36d4e0d0d6b7d0b0';

/** Kubernetes MicroTime: microseconds, UTC. */
const micro = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
const seconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

interface Write {
  at: number;
  verb: string;
  uri: string;
  user: string;
  groups?: string[];
  ua: string;
  objectRef: Obj;
  code: number;
  request?: unknown;
  response?: unknown;
  decision?: 'allow' | 'forbid';
  reason?: string;
}

function event(w: Write): AuditEvent {
  return {
    level: 'RequestResponse',
    auditID: randomUUID(),
    stage: 'ResponseComplete',
    requestURI: w.uri,
    verb: w.verb,
    user: { username: w.user, groups: w.groups ?? ['system:authenticated'] },
    sourceIPs: [w.user.startsWith('system:') ? '10.244.1.17' : '192.0.2.44'],
    userAgent: w.ua,
    objectRef: w.objectRef,
    responseStatus: { metadata: {}, code: w.code },
    ...(w.request !== undefined ? { requestObject: w.request } : {}),
    ...(w.response !== undefined ? { responseObject: w.response } : {}),
    requestReceivedTimestamp: micro(w.at - 12),
    stageTimestamp: micro(w.at),
    annotations: {
      'authorization.k8s.io/decision': w.decision ?? 'allow',
      'authorization.k8s.io/reason': w.reason ?? '',
    },
  } as AuditEvent;
}

function managedField(
  manager: string,
  operation: 'Apply' | 'Update',
  time: number,
  fields: Obj,
  subresource?: string,
): Obj {
  return {
    manager,
    operation,
    apiVersion: 'cert-manager.io/v1',
    time: seconds(time),
    fieldsType: 'FieldsV1',
    fieldsV1: fields,
    ...(subresource ? { subresource } : {}),
  };
}

/** The story's events, oldest first, ending just before `now`. */
export function demoStory(now = Date.now()): AuditEvent[] {
  const t = (minutesAgo: number): number => now - minutesAgo * 60_000;
  const events: AuditEvent[] = [];

  // 1. Flux applies a Certificate (server-side apply that creates: PATCH answered 201).
  const certUid = randomUUID();
  const certBase = '/apis/cert-manager.io/v1/namespaces/payments/certificates';
  const certRef = {
    resource: 'certificates',
    namespace: 'payments',
    name: 'payments-tls',
    apiGroup: 'cert-manager.io',
    apiVersion: 'v1',
  };
  const applied = {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: {
      name: 'payments-tls',
      namespace: 'payments',
      labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' },
    },
    spec: {
      secretName: 'payments-tls',
      dnsNames: ['pay.example.com'],
      issuerRef: { name: 'letsencrypt-prod', kind: 'ClusterIssuer' },
    },
  };
  const fluxFields = {
    'f:metadata': { 'f:labels': {} },
    'f:spec': { 'f:dnsNames': {}, 'f:issuerRef': {}, 'f:secretName': {} },
  };
  const created = {
    ...applied,
    metadata: {
      ...applied.metadata,
      uid: certUid,
      resourceVersion: '48211',
      generation: 1,
      creationTimestamp: seconds(t(50)),
      managedFields: [managedField('kustomize-controller', 'Apply', t(50), fluxFields)],
    },
  };
  events.push(
    event({
      at: t(50),
      verb: 'patch',
      uri: `${certBase}/payments-tls?fieldManager=kustomize-controller&force=true`,
      user: FLUX_SA,
      groups: ['system:serviceaccounts', 'system:serviceaccounts:flux-system', 'system:authenticated'],
      ua: FLUX_UA,
      objectRef: certRef,
      code: 201,
      request: applied,
      response: created,
      reason:
        'RBAC: allowed by ClusterRoleBinding "cluster-reconciler-flux-system" of ClusterRole "cluster-admin" to ServiceAccount "kustomize-controller/flux-system"',
    }),
  );

  // 2. cert-manager reports the certificate ready (a status write).
  const status = {
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Ready',
        message: 'Certificate is up to date and has not expired',
        lastTransitionTime: seconds(t(49)),
        observedGeneration: 1,
      },
    ],
    notAfter: seconds(now + 89 * 86_400_000),
    notBefore: seconds(t(49)),
    renewalTime: seconds(now + 59 * 86_400_000),
    revision: 1,
  };
  const ready = {
    ...created,
    metadata: {
      ...created.metadata,
      resourceVersion: '48240',
      managedFields: [
        ...created.metadata.managedFields,
        managedField('cert-manager-certificates-readiness', 'Update', t(49), { 'f:status': {} }, 'status'),
      ],
    },
    status,
  };
  events.push(
    event({
      at: t(49),
      verb: 'update',
      uri: `${certBase}/payments-tls/status`,
      user: CM_SA,
      groups: ['system:serviceaccounts', 'system:serviceaccounts:cert-manager', 'system:authenticated'],
      ua: CM_UA,
      objectRef: { ...certRef, uid: certUid, resourceVersion: '48211', subresource: 'status' },
      code: 200,
      request: { ...created, status },
      response: ready,
    }),
  );

  // 3. A human adds a name by hand: drift from Git, and spec.dnsNames is a critical field.
  const edited = {
    ...ready,
    metadata: {
      ...ready.metadata,
      resourceVersion: '48675',
      generation: 2,
      managedFields: [
        ...ready.metadata.managedFields,
        managedField('kubectl-edit', 'Update', t(20), { 'f:spec': { 'f:dnsNames': {} } }),
      ],
    },
    spec: { ...ready.spec, dnsNames: ['pay.example.com', 'pay-admin.example.com'] },
  };
  events.push(
    event({
      at: t(20),
      verb: 'patch',
      uri: `${certBase}/payments-tls?fieldManager=kubectl-edit`,
      user: 'alice@example.com',
      groups: ['platform-admins', 'system:authenticated'],
      ua: KUBECTL_UA,
      objectRef: certRef,
      code: 200,
      request: { spec: { dnsNames: ['pay.example.com', 'pay-admin.example.com'] } },
      response: edited,
      reason:
        'RBAC: allowed by ClusterRoleBinding "platform-admins" of ClusterRole "cluster-admin" to Group "platform-admins"',
    }),
  );

  // 4. An Argo CD Application is created with kubectl (client-side).
  const appUid = randomUUID();
  const appBase = '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications';
  const appRef = {
    resource: 'applications',
    namespace: 'argocd',
    name: 'checkout',
    apiGroup: 'argoproj.io',
    apiVersion: 'v1alpha1',
  };
  const app = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'checkout', namespace: 'argocd' },
    spec: {
      project: 'payments',
      source: { repoURL: 'https://git.example.com/payments/checkout.git', path: 'deploy/prod', targetRevision: 'main' },
      destination: { server: 'https://kubernetes.default.svc', namespace: 'payments' },
      syncPolicy: { automated: { prune: true, selfHeal: true } },
    },
  };
  const appStored = {
    ...app,
    metadata: {
      ...app.metadata,
      uid: appUid,
      resourceVersion: '48302',
      generation: 1,
      creationTimestamp: seconds(t(40)),
      managedFields: [
        {
          manager: 'kubectl-create',
          operation: 'Update',
          apiVersion: 'argoproj.io/v1alpha1',
          time: seconds(t(40)),
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:spec': {} },
        },
      ],
    },
  };
  events.push(
    event({
      at: t(40),
      verb: 'create',
      uri: `${appBase}?fieldManager=kubectl-create`,
      user: 'bob@example.com',
      groups: ['payments-team', 'system:authenticated'],
      ua: KUBECTL_UA,
      objectRef: { ...appRef, name: undefined },
      code: 201,
      request: app,
      response: appStored,
      reason: 'RBAC: allowed by RoleBinding "argocd-apps" of Role "application-admin" to Group "payments-team"',
    }),
  );

  // 5. Someone without the right tries to move it to the `default` project: denied (no body logged).
  events.push(
    event({
      at: t(10),
      verb: 'patch',
      uri: `${appBase}/checkout?fieldManager=kubectl-patch`,
      user: 'mallory@example.com',
      groups: ['contractors', 'system:authenticated'],
      ua: KUBECTL_UA,
      objectRef: appRef,
      code: 403,
      response: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'applications.argoproj.io "checkout" is forbidden: User "mallory@example.com" cannot patch resource "applications" in API group "argoproj.io" in the namespace "argocd"',
        reason: 'Forbidden',
        details: { name: 'checkout', group: 'argoproj.io', kind: 'applications' },
        code: 403,
      },
      decision: 'forbid',
    }),
  );

  // 6. The Application is deleted (no finalizer: gone at once, answered with a Status naming its uid).
  events.push(
    event({
      at: t(5),
      verb: 'delete',
      uri: `${appBase}/checkout`,
      user: 'bob@example.com',
      groups: ['payments-team', 'system:authenticated'],
      ua: KUBECTL_UA,
      objectRef: appRef,
      code: 200,
      request: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', propagationPolicy: 'Background' },
      response: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name: 'checkout', group: 'argoproj.io', kind: 'applications', uid: appUid },
      },
      reason: 'RBAC: allowed by RoleBinding "argocd-apps" of Role "application-admin" to Group "payments-team"',
    }),
  );
  // Nothing of the story is dropped by JSON (no undefined fields left in objectRef).
  return events.map((e) => JSON.parse(JSON.stringify(e)) as AuditEvent);
}
