import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AuditEvent } from '@crtrail/audit';
import { checkConfigText, defaultConfig } from '@crtrail/config';
import {
  kindField,
  kindsTaught,
  learnKinds,
  LAST_APPLIED,
  redactEvent,
  redactStoredObject,
  redactValue,
  resourceNames,
  type KindEntry,
  type KindStore,
} from '../src/index.js';

const salt = 'a-test-salt-of-enough-length';
const config = defaultConfig();
const canary = (label: string): string => `canary-${label}-${randomBytes(6).toString('hex')}`;
const HASH = /^sha256:[0-9a-f]{64}$/;

function assertNoCanary(value: unknown, ...canaries: string[]): void {
  const text = JSON.stringify(value);
  for (const c of canaries) assert.ok(!text.includes(c), `${c} leaked: ${text}`);
}

/** The Redis table's contract, in memory. */
function memoryKinds(): KindStore & { entries: Map<string, string[]> } {
  const entries = new Map<string, string[]>();
  return {
    entries,
    kindsOf: (g, r) => entries.get(kindField(g, r)) ?? [],
    async update(taught: KindEntry[]) {
      for (const t of taught) {
        const f = kindField(t.group, t.resource);
        const cur = entries.get(f) ?? [];
        if (!cur.includes(t.kind)) entries.set(f, [...cur, t.kind]);
      }
    },
  };
}

const base = (over: Partial<AuditEvent>): AuditEvent => ({
  level: 'RequestResponse',
  auditID: 'a',
  stage: 'ResponseComplete',
  requestURI: '/apis/vault.example.com/v1/namespaces/ns/vaultsecrets/s',
  verb: 'update',
  user: { username: 'alice' },
  objectRef: { apiGroup: 'vault.example.com', apiVersion: 'v1', resource: 'vaultsecrets', namespace: 'ns', name: 's' },
  responseStatus: { code: 200 },
  ...over,
});
/** The fields of redacted objects these tests read (their assertions check what is there). */
interface Redacted {
  data: { password: string; user: string };
  stringData: { token: string };
  message: string;
  metadata: { annotations: { owner: string; [LAST_APPLIED]: string } };
  spec: { auth: { password: string | null } };
}

const vaultSecret = (data: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'vault.example.com/v1',
  kind: 'VaultSecret',
  metadata: { name: 's', namespace: 'ns', uid: 'u1', resourceVersion: '1' },
  data,
  ...extra,
});

test('Secret-like kinds: each data/stringData value is hashed, the keys stay visible, equal values hash equal', () => {
  const pw = canary('pw');
  const tok = canary('tok');
  const obj = vaultSecret({ password: pw, user: 'app' }, { stringData: { token: tok } });
  const out = redactEvent(base({ requestObject: obj, responseObject: obj }), config, salt);
  assertNoCanary(out, pw, tok);
  const res = out.responseObject as Redacted;
  assert.deepEqual(Object.keys(res.data), ['password', 'user']);
  assert.match(res.data.password, HASH);
  assert.match(res.data.user, HASH, 'every value of data is hashed, not only the ones that look secret');
  assert.match(res.stringData.token, HASH);
  assert.equal(res.data.password, (out.requestObject as Redacted).data.password, 'same value, same hash');
  assert.equal(res.data.password, redactValue(pw, salt));
  assert.deepEqual(redactEvent(out, config, salt), out, 'idempotent: redacting again changes nothing');
  const rotated = redactEvent(
    base({ responseObject: vaultSecret({ password: `${pw}-2`, user: 'app' }) }),
    config,
    salt,
  );
  assert.notEqual(
    (rotated.responseObject as Redacted).data.password,
    res.data.password,
    'a changed secret is a changed hash',
  );
  assert.equal((rotated.responseObject as Redacted).data.user, res.data.user);
});

test('the decision comes from the objectRef: Request-level patches without a kind, refused writes answering a Status', () => {
  const pw = canary('merge');
  // A merge patch logged at level Request: no kind anywhere, only the resource name says it is secret-like.
  const merge = redactEvent(
    base({ level: 'Request', verb: 'patch', requestObject: { data: { password: pw } }, responseObject: undefined }),
    config,
    salt,
  );
  assertNoCanary(merge, pw);
  assert.match((merge.requestObject as Redacted).data.password, HASH);

  const c409 = canary('409');
  const conflict = redactEvent(
    base({
      verb: 'update',
      requestObject: vaultSecret({ password: c409 }),
      responseObject: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409 },
      responseStatus: { code: 409 },
    }),
    config,
    salt,
  );
  assertNoCanary(conflict, c409);

  // A 422 quotes the refused value in its message: scrubbed to the value's hash.
  const c422 = canary('422');
  const invalid = redactEvent(
    base({
      verb: 'create',
      requestObject: vaultSecret({ password: c422 }),
      responseObject: {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'Invalid',
        code: 422,
        message: `VaultSecret "s" is invalid: data.password: Invalid value: "${c422}": too short`,
        details: { causes: [{ message: `Invalid value: "${c422}"`, field: 'data.password' }] },
      },
      responseStatus: { code: 422 },
    }),
    config,
    salt,
  );
  assertNoCanary(invalid, c422);
  assert.ok((invalid.responseObject as Redacted).message.includes(redactValue(c422, salt)));
});

test('the kind table: taught by CRDs and successful bodies only, used for resources whose name says nothing', async () => {
  const kinds = memoryKinds();
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'creds.vault.example.com' },
    spec: { group: 'vault.example.com', names: { plural: 'creds', singular: 'cred', kind: 'ServiceSecret' } },
  };
  const crdEvent = base({
    verb: 'create',
    objectRef: { apiGroup: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', name: crd.metadata.name },
    requestObject: crd,
    responseObject: crd,
    responseStatus: { code: 201 },
  });
  assert.deepEqual(kindsTaught(crdEvent), [
    { group: 'vault.example.com', resource: 'creds', kind: 'ServiceSecret' },
    { group: 'vault.example.com', resource: 'creds', kind: 'ServiceSecret' },
  ]);
  // Refused requests and patch documents name whatever the client wrote: they teach nothing.
  assert.deepEqual(kindsTaught({ ...crdEvent, responseStatus: { code: 422 }, responseObject: { kind: 'Status' } }), []);
  const credRef = { apiGroup: 'vault.example.com', apiVersion: 'v1', resource: 'creds', namespace: 'ns', name: 'c' };
  assert.deepEqual(
    kindsTaught(
      base({
        verb: 'patch',
        objectRef: credRef,
        requestObject: { apiVersion: 'vault.example.com/v1', kind: 'Widget' },
        responseObject: undefined,
      }),
    ),
    [],
  );
  assert.deepEqual(
    kindsTaught(
      base({
        verb: 'update',
        objectRef: { ...credRef, subresource: 'scale' },
        responseObject: { apiVersion: 'autoscaling/v1', kind: 'Scale' },
      }),
    ),
    [],
  );

  const token = canary('crd-taught');
  const write = base({
    level: 'Request',
    verb: 'patch',
    objectRef: credRef,
    requestObject: [{ op: 'add', path: '/data/token', value: token }],
    responseObject: undefined,
  });
  assert.deepEqual(
    redactEvent(write, config, salt, kinds),
    write,
    'nothing known yet: the name `creds` is not secret-like',
  );
  await learnKinds([crdEvent], kinds);
  const out = redactEvent(write, config, salt, kinds);
  assertNoCanary(out, token);
  assert.equal((out.requestObject as Array<{ path: string }>)[0]?.path, '/data/token');

  // A wrong entry can only add redaction: vaultsecrets stays secret-like whatever the table says.
  kinds.entries.set(kindField('vault.example.com', 'vaultsecrets'), ['Widget']);
  const pw = canary('poison');
  assertNoCanary(
    redactEvent(base({ level: 'Request', verb: 'patch', requestObject: { data: { pw } } }), config, salt, kinds),
    pw,
  );
  assert.ok(resourceNames('policies').includes('policy'));
  assert.ok(resourceNames('VaultSecrets').includes('vaultsecret'));
});

test('every JSON Patch form: values written at, under and above a redacted path, the last-applied annotation', () => {
  const c = Array.from({ length: 8 }, (_, i) => canary(`jp${i}`));
  const la = JSON.stringify(vaultSecret({ password: c[4] }));
  const patch = [
    { op: 'add', path: '/data/password', value: c[0] },
    { op: 'replace', path: '/data', value: { password: c[1], user: c[2] } },
    { op: 'test', path: '/stringData/token', value: c[3] },
    { op: 'add', path: '/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration', value: la },
    { op: 'add', path: '/metadata/annotations', value: { [LAST_APPLIED]: la, team: 'a' } },
    {
      op: 'add',
      path: '',
      value: vaultSecret({ password: c[5] }, { metadata: { annotations: { [LAST_APPLIED]: la } } }),
    },
    { op: 'add', path: '/data/nested', value: { deeper: [c[6]] } },
    { op: 'remove', path: '/data/old' },
    { op: 'add', path: '/spec/replicas', value: 3 },
  ];
  const out = redactEvent(base({ verb: 'patch', requestObject: patch, responseObject: undefined }), config, salt);
  assertNoCanary(out, ...c);
  const ops = out.requestObject as Array<{ path: string; value: unknown }>;
  assert.deepEqual(
    ops.map((o) => o.path),
    patch.map((o) => o.path),
    'paths stay: the keys written are visible',
  );
  assert.equal(ops[8]!.value, 3, 'writes elsewhere are left alone');
  assert.match(ops[0]!.value as string, HASH);
  assert.equal(ops[0]!.value, redactValue(c[0], salt));
  assert.deepEqual(Object.keys(ops[1]!.value as object), ['password', 'user']);
  const inner = JSON.parse(ops[3]!.value as string);
  assert.equal(inner.kind, 'VaultSecret', 'the annotation stays a parseable object');
  assert.equal(inner.data.password, redactValue(c[4], salt), 'the same value hashes the same inside the annotation');
  assert.equal((ops[4]!.value as { team: string }).team, 'a');
  assert.deepEqual(redactEvent(out, config, salt), out, 'idempotent');
});

test('the last-applied annotation: parsed and redacted in requests, responses, merge patches and List items; unparseable text is hashed whole', () => {
  const inAnnotation = canary('la');
  const broken = canary('broken');
  const db = (pw: string, annotation: string) => ({
    apiVersion: 'db.example.com/v1',
    kind: 'Database',
    metadata: { name: 'd', annotations: { [LAST_APPLIED]: annotation, owner: 'team-a' } },
    spec: { auth: { password: pw, user: 'app' } },
  });
  const cfg = checkConfigText(
    'redaction:\n  paths:\n    - group: db.example.com\n      kind: Database\n      paths: [spec.auth.password]\n',
    'r.yaml',
  );
  assert.ok(cfg.ok);
  const applied = `${JSON.stringify(db(inAnnotation, ''))}\n`;
  const ref = { apiGroup: 'db.example.com', apiVersion: 'v1', resource: 'databases', namespace: 'ns', name: 'd' };
  const event = base({
    objectRef: ref,
    requestObject: db(inAnnotation, applied),
    responseObject: db(inAnnotation, applied),
  });
  const out = redactEvent(event, cfg.config, salt);
  assertNoCanary(out, inAnnotation);
  const text = (out.responseObject as Redacted).metadata.annotations[LAST_APPLIED];
  assert.ok(text.endsWith('\n'), 'its trailing newline is kept');
  assert.equal(JSON.parse(text).spec.auth.password, redactValue(inAnnotation, salt));
  assert.equal((out.responseObject as Redacted).metadata.annotations.owner, 'team-a');

  const bad = redactEvent(
    base({ objectRef: ref, responseObject: db('x-value', `{"spec":{"auth":{"password":"${broken}"`) }),
    cfg.config,
    salt,
  );
  assertNoCanary(bad, broken);
  assert.match((bad.responseObject as Redacted).metadata.annotations[LAST_APPLIED], HASH);
  assert.deepEqual(redactEvent(bad, cfg.config, salt), bad, 'idempotent');

  // kubectl apply to an existing object sends a merge patch whose only kind is inside the annotation.
  const mergeSecret = canary('merge-la');
  const credRef = { apiGroup: 'vault.example.com', apiVersion: 'v1', resource: 'creds', namespace: 'ns', name: 'c' };
  const la = JSON.stringify({
    apiVersion: 'vault.example.com/v1',
    kind: 'ServiceSecret',
    data: { token: mergeSecret },
  });
  const merge = redactEvent(
    base({
      level: 'Request',
      verb: 'patch',
      objectRef: credRef,
      requestObject: { metadata: { annotations: { [LAST_APPLIED]: la } }, data: { token: mergeSecret } },
    }),
    config,
    salt,
  );
  assertNoCanary(merge, mergeSecret);

  const listSecret = canary('list');
  const items = [
    vaultSecret(
      { password: listSecret },
      {
        metadata: { name: 'a', annotations: { [LAST_APPLIED]: JSON.stringify(vaultSecret({ password: listSecret })) } },
      },
    ),
    vaultSecret({ password: `${listSecret}-b` }),
  ];
  const list = redactEvent(
    base({
      verb: 'deletecollection',
      objectRef: { apiGroup: 'vault.example.com', resource: 'vaultsecrets', namespace: 'ns' },
      responseObject: { apiVersion: 'vault.example.com/v1', kind: 'VaultSecretList', items },
    }),
    config,
    salt,
  );
  assertNoCanary(list, listSecret);
});

test('configured paths apply by resource when no kind is known; merge-patch deletions stay deletions', () => {
  const byKind = checkConfigText(
    'redaction:\n  paths:\n    - group: db.example.com\n      kind: Database\n      paths: [spec.auth.password]\n',
    'r.yaml',
  );
  const byResource = checkConfigText(
    'redaction:\n  paths:\n    - group: db.example.com\n      resource: databases\n      kind: Database\n      paths: [spec.auth.password]\n',
    'r.yaml',
  );
  assert.ok(byKind.ok && byResource.ok);
  const pw = canary('cfg');
  const ref = { apiGroup: 'db.example.com', apiVersion: 'v1', resource: 'databases', namespace: 'ns', name: 'd' };
  for (const cfg of [byKind.config, byResource.config]) {
    const out = redactEvent(
      base({
        level: 'Request',
        verb: 'patch',
        objectRef: ref,
        requestObject: { spec: { auth: { password: pw } } },
        responseObject: undefined,
      }),
      cfg,
      salt,
    );
    assertNoCanary(out, pw);
    const removal = redactEvent(
      base({ level: 'Request', verb: 'patch', objectRef: ref, requestObject: { spec: { auth: { password: null } } } }),
      cfg,
      salt,
    );
    assert.equal((removal.requestObject as Redacted).spec.auth.password, null);
  }
});

test('baseline objects are redacted like their events', () => {
  const pw = canary('baseline');
  const out = redactStoredObject(vaultSecret({ password: pw }), 'vaultsecrets', config, salt);
  assertNoCanary(out, pw);
  assert.equal((out.data as Redacted['data']).password, redactValue(pw, salt));
});

test("a mutating webhook's JSON Patch, logged in the event's annotations, is redacted too", () => {
  const injected = canary('admission');
  const garbled = canary('admission-garbled');
  const annotations = {
    'authorization.k8s.io/decision': 'allow',
    'patch.webhook.admission.k8s.io/round_0_index_0': JSON.stringify({
      configuration: 'injector',
      webhook: 'inject.example.com',
      patch: [
        { op: 'add', path: '/data/injected', value: injected },
        { op: 'add', path: '/metadata/labels/x', value: 'y' },
      ],
      patchType: 'JSONPatch',
    }),
    'patch.webhook.admission.k8s.io/round_0_index_1': `{"patch":[{"value":"${garbled}"`,
  };
  const out = redactEvent(base({ annotations, responseObject: vaultSecret({ injected }) }), config, salt);
  assertNoCanary(out, injected, garbled);
  const logged = JSON.parse(out.annotations!['patch.webhook.admission.k8s.io/round_0_index_0']!);
  assert.equal(logged.patch[0].path, '/data/injected');
  assert.equal(logged.patch[0].value, redactValue(injected, salt));
  assert.equal(logged.patch[1].value, 'y');
  assert.equal(out.annotations!['authorization.k8s.io/decision'], 'allow');
  assert.deepEqual(redactEvent(out, config, salt), out, 'idempotent');
});
