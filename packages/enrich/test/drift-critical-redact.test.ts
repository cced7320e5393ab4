import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent, KubeObject } from '@crtrail/audit';
import { checkConfigText, defaultConfig } from '@crtrail/config';
import { criticalPaths, detectDrift, redactEvent, redactValue } from '../src/index.js';

const config = defaultConfig();
const argoManaged: KubeObject = {
  apiVersion: 'x/v1',
  kind: 'X',
  metadata: { name: 'a', annotations: { 'argocd.argoproj.io/tracking-id': 'app:x/X:ns/a' } },
};
const fluxManaged: KubeObject = {
  apiVersion: 'x/v1',
  kind: 'X',
  metadata: { name: 'a', labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps' } },
};
const plain: KubeObject = { apiVersion: 'x/v1', kind: 'X', metadata: { name: 'a' } };
const human = { kind: 'human' as const, name: 'alice', tool: 'kubectl' };
const spec = { kind: 'spec', dry_run: false };
const argocd = { kind: 'gitops', name: 'argo', tool: 'argocd' };
const operator = { kind: 'controller', name: 'op', tool: 'manager' };

test('drift: out-of-band change of a GitOps-managed object only', () => {
  assert.equal(detectDrift(argoManaged, argoManaged, human, spec, true, config), true);
  assert.equal(detectDrift(fluxManaged, fluxManaged, human, spec, true, config), true);
  assert.equal(detectDrift(plain, plain, human, spec, true, config), false, 'unmanaged');
  assert.equal(detectDrift(argoManaged, argoManaged, argocd, spec, true, config), false, "the tool's own write");
  assert.equal(
    detectDrift(argoManaged, argoManaged, human, { kind: 'spec', dry_run: true }, true, config),
    false,
    'dry run',
  );
  assert.equal(detectDrift(argoManaged, argoManaged, human, spec, false, config), false, 'failed');
  assert.equal(
    detectDrift(argoManaged, argoManaged, operator, { kind: 'status', dry_run: false }, true, config),
    false,
    'status',
  );
  assert.equal(
    detectDrift(argoManaged, argoManaged, operator, { kind: 'metadata', dry_run: false }, true, config),
    false,
    'controller finalizers',
  );
  assert.equal(
    detectDrift(argoManaged, argoManaged, human, { kind: 'metadata', dry_run: false }, true, config),
    true,
    'a person relabels',
  );
});

test('critical fields: configured paths per group/kind, parents and wildcards', () => {
  const custom = checkConfigText(
    'critical:\n  - group: serving.example.ai\n    kind: InferenceService\n    paths: [spec.modelVersion, "spec.containers[*].image"]\n',
    'c.yaml',
  );
  assert.ok(custom.ok);
  const cfg = custom.config;
  const target = { group: 'serving.example.ai', kind: 'InferenceService', resource: 'inferenceservices' };
  assert.deepEqual(criticalPaths(target, ['/spec/modelVersion', '/spec/replicas'], cfg), ['/spec/modelVersion']);
  assert.deepEqual(criticalPaths(target, ['/spec'], cfg), ['/spec'], 'replacing a parent touches the field');
  assert.deepEqual(criticalPaths(target, ['/spec/containers/2/image', '/spec/containers/2/name'], cfg), [
    '/spec/containers/2/image',
  ]);
  assert.deepEqual(criticalPaths({ ...target, kind: 'Other' }, ['/spec/modelVersion'], cfg), []);
  assert.deepEqual(
    criticalPaths({ group: 'argoproj.io', kind: 'Application' }, ['/spec/source/targetRevision'], cfg),
    ['/spec/source/targetRevision'],
    'defaults still apply',
  );
});

const CANARY = 'hunter2-canary-7f3a';
const salt = 'a-test-salt-of-enough-length';

test('redaction: Secret-like data, configured paths, JSON and merge patches, deletecollection lists', () => {
  const cfg = checkConfigText(
    'redaction:\n  paths:\n    - group: db.example.com\n      kind: Database\n      paths: [spec.auth.password]\n',
    'r.yaml',
  );
  assert.ok(cfg.ok);
  const db = (pw: string) => ({
    apiVersion: 'db.example.com/v1',
    kind: 'Database',
    metadata: { name: 'd' },
    spec: { auth: { password: pw, user: 'app' } },
  });
  type Db = ReturnType<typeof db>;
  const base: AuditEvent = {
    level: 'RequestResponse',
    auditID: 'x',
    stage: 'ResponseComplete',
    requestURI: '/x',
    verb: 'update',
    user: { username: 'u' },
    objectRef: { apiGroup: 'db.example.com', resource: 'databases' },
  };
  const put = redactEvent({ ...base, requestObject: db(CANARY), responseObject: db(CANARY) }, cfg.config, salt);
  assert.doesNotMatch(JSON.stringify(put), new RegExp(CANARY));
  assert.equal((put.responseObject as Db).spec.auth.user, 'app');
  assert.match((put.responseObject as Db).spec.auth.password, /^sha256:[0-9a-f]{64}$/);
  const other = redactEvent({ ...base, responseObject: db('another-value') }, cfg.config, salt);
  assert.notEqual(
    (other.responseObject as Db).spec.auth.password,
    (put.responseObject as Db).spec.auth.password,
    'a change stays detectable',
  );
  assert.equal(
    redactValue((put.responseObject as Db).spec.auth.password, salt),
    (put.responseObject as Db).spec.auth.password,
    'idempotent',
  );
  const jsonPatch = redactEvent(
    {
      ...base,
      verb: 'patch',
      requestObject: [
        { op: 'replace', path: '/spec/auth/password', value: CANARY },
        { op: 'add', path: '/spec/auth', value: { password: CANARY } },
      ],
      responseObject: db(CANARY),
    },
    cfg.config,
    salt,
  );
  assert.doesNotMatch(JSON.stringify(jsonPatch), new RegExp(CANARY));
  const merge = redactEvent(
    { ...base, verb: 'patch', requestObject: { spec: { auth: { password: CANARY } } }, responseObject: db(CANARY) },
    cfg.config,
    salt,
  );
  assert.doesNotMatch(JSON.stringify(merge), new RegExp(CANARY));
  const secretLike = {
    apiVersion: 'x.io/v1',
    kind: 'ClusterSecret',
    metadata: { name: 's' },
    data: { token: CANARY },
    stringData: { pw: CANARY },
  };
  const list = redactEvent(
    {
      ...base,
      verb: 'deletecollection',
      objectRef: { apiGroup: 'x.io', resource: 'clustersecrets' },
      responseObject: { kind: 'ClusterSecretList', items: [secretLike, secretLike] },
    },
    config,
    salt,
  );
  assert.doesNotMatch(JSON.stringify(list), new RegExp(CANARY));
  const untouched: AuditEvent = {
    ...base,
    objectRef: { apiGroup: 'x.io', resource: 'widgets' },
    responseObject: { kind: 'Widget', spec: { a: 1 } },
  };
  assert.equal(redactEvent(untouched, config, salt), untouched, 'nothing to redact: no copy');
});
