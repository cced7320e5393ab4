import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent } from '@crtrail/audit';
import { classifyEvent } from '../src/index.js';

function ev(over: Partial<AuditEvent>): AuditEvent {
  return {
    level: 'RequestResponse',
    auditID: 'a',
    stage: 'ResponseComplete',
    requestURI: '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/x',
    verb: 'patch',
    user: { username: 'u' },
    objectRef: { apiGroup: 'argoproj.io', resource: 'applications', namespace: 'argocd', name: 'x' },
    ...over,
  };
}

test('keeps custom-resource writes at the final stages', () => {
  assert.deepEqual(classifyEvent(ev({})), { keep: true });
  assert.deepEqual(classifyEvent(ev({ stage: 'Panic' })), { keep: true });
  for (const verb of ['create', 'update', 'delete', 'deletecollection']) {
    assert.equal(classifyEvent(ev({ verb })).keep, true, verb);
  }
});

test('drops earlier stages, read verbs and built-in groups, saying why', () => {
  assert.deepEqual(classifyEvent(ev({ stage: 'RequestReceived' })), { keep: false, reason: 'stage' });
  assert.deepEqual(classifyEvent(ev({ verb: 'get' })), { keep: false, reason: 'verb' });
  assert.deepEqual(classifyEvent(ev({ verb: 'watch' })), { keep: false, reason: 'verb' });
  assert.deepEqual(classifyEvent(ev({ objectRef: { resource: 'pods', apiGroup: '' } })), {
    keep: false,
    reason: 'built-in',
  });
  assert.deepEqual(classifyEvent(ev({ objectRef: { resource: 'pods' } })), { keep: false, reason: 'built-in' });
  assert.deepEqual(classifyEvent(ev({ objectRef: { resource: 'deployments', apiGroup: 'apps' } })), {
    keep: false,
    reason: 'built-in',
  });
  assert.deepEqual(classifyEvent(ev({ objectRef: undefined })), { keep: false, reason: 'no-object' });
});

test('CRDs themselves and CRD-backed *.k8s.io groups are custom', () => {
  assert.equal(
    classifyEvent(ev({ objectRef: { resource: 'customresourcedefinitions', apiGroup: 'apiextensions.k8s.io' } })).keep,
    true,
  );
  assert.equal(
    classifyEvent(ev({ objectRef: { resource: 'httproutes', apiGroup: 'gateway.networking.k8s.io' } })).keep,
    true,
  );
});

test('the built-in list is configurable', () => {
  assert.equal(classifyEvent(ev({}), { builtInGroups: ['argoproj.io'] }).keep, false);
});
