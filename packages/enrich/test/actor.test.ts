import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent } from '@crtrail/audit';
import { defaultConfig } from '@crtrail/config';
import { classifyActor } from '../src/index.js';

const config = defaultConfig();
const ev = (username: string, userAgent?: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  level: 'Metadata', auditID: 'a', stage: 'ResponseComplete', requestURI: '/apis/x/v1/y', verb: 'patch',
  user: { username }, ...(userAgent ? { userAgent } : {}), ...extra,
});

// Usernames and userAgents as they appear in examples/audit/public (plus GitOps tools).
const rows: Array<[string, string | undefined, string, string]> = [
  ['minikube-user', 'kubectl/v1.17.3 (darwin/amd64) kubernetes/06ad960', 'human', 'kubectl'],
  ['kube:admin', 'oc/4.12.0 (linux/amd64) kubernetes/31aa3e8', 'human', 'oc'],
  ['admin', 'kubeadm/v1.16.2 (linux/amd64) kubernetes/c97fe50', 'human', 'kubeadm'],
  ['system:admin', undefined, 'system', 'unknown'],
  ['system:apiserver', 'kube-apiserver/v1.25.8+27e744f (linux/amd64) kubernetes/df8a1b9', 'system', 'kube-apiserver'],
  ['system:kube-scheduler', 'kube-scheduler/v1.25.8+27e744f (linux/amd64) kubernetes/df8a1b9', 'system', 'kube-scheduler'],
  ['system:node:oscar7', 'kubelet/v1.25.8+27e744f (linux/amd64) kubernetes/df8a1b9', 'system', 'kubelet'],
  ['system:anonymous', 'Go-http-client/1.1', 'unknown', 'go-client'],
  ['system:serviceaccount:kube-system:replicaset-controller', undefined, 'controller', 'unknown'],
  ['system:serviceaccount:openshift-cluster-version:default', 'cluster-version-operator/v0.0.0 (linux/amd64) kubernetes/$Format', 'controller', 'cluster-version-operator'],
  ['system:serviceaccount:kafka:strimzi-cluster-operator', 'strimzi-cluster-operator/0.35.1', 'controller', 'strimzi-cluster-operator'],
  ['system:serviceaccount:openshift-operator-lifecycle-manager:olm-operator-serviceaccount', 'catalog/v0.0.0 (linux/amd64) kubernetes/$Format', 'controller', 'catalog'],
  ['system:serviceaccount:ci:deployer', 'kubectl/v1.29.3 (linux/amd64) kubernetes/6813625', 'serviceaccount', 'kubectl'],
  ['system:serviceaccount:argocd:argocd-application-controller', 'argocd-application-controller/v2.13.1+af54ef8 (linux/amd64) kubernetes/$Format', 'gitops', 'argocd'],
  ['system:serviceaccount:flux-system:kustomize-controller', 'kustomize-controller/v1.4.0', 'gitops', 'flux'],
  ['alice@example.com', 'Helm/3.16.2', 'human', 'helm'],
  ['bob', 'HashiCorp Terraform/1.9.0 (+https://www.terraform.io) terraform-provider-kubernetes/2.31.0', 'human', 'terraform'],
];

test('actor kind and tool over real usernames and userAgents', () => {
  for (const [user, ua, kind, tool] of rows) {
    const a = classifyActor(ev(user, ua), undefined, config);
    assert.deepEqual([a.kind, a.tool], [kind, tool], `${user} ${ua ?? ''}`);
    assert.equal(a.name, user);
  }
});

test('the impersonated user is the effective actor', () => {
  const a = classifyActor(ev('ops-bot', 'kubectl/v1.29.3', { impersonatedUser: { username: 'carol@example.com' } }), undefined, config);
  assert.deepEqual(a, { kind: 'human', name: 'carol@example.com', tool: 'kubectl' });
});

test('the field manager refines the tool: kubectl edit/patch/client-side apply, Argo CD apply', () => {
  const withManager = (manager: string) => ({ apiVersion: 'x/v1', kind: 'X', metadata: { managedFields: [{ manager: 'old', time: '2026-01-01T00:00:00Z' }, { manager, time: '2026-11-02T10:00:00Z' }] } });
  for (const m of ['kubectl-edit', 'kubectl-patch', 'kubectl-client-side-apply']) {
    assert.equal(classifyActor(ev('alice', 'kubectl/v1.29.3'), withManager(m), config).tool, m);
  }
  assert.equal(classifyActor(ev('alice', 'kubectl/v1.29.3', { requestURI: '/x?fieldManager=kubectl-edit' }), undefined, config).tool, 'kubectl-edit');
  const argo = classifyActor(ev('system:serviceaccount:argocd:argocd-server', 'Go-http-client/1.1'), withManager('argocd-controller'), config);
  assert.equal(argo.kind, 'gitops');
});
