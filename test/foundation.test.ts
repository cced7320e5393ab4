import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { publicFixtureFiles, uniquePrefix } from '@crtrail/testkit';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';
import { runCli } from './helpers/cli.js';
import type { LooseJson } from './helpers/loose.js';

/**
 * An independent count of custom-resource mutations in the raw fixture files, written from the
 * Kubernetes docs rather than from crtrail's filter package: v1 events (or no apiVersion) at a final
 * stage, a mutating verb, and an API group that kube-apiserver does not serve itself.
 */
const K8S_BUILT_IN = new Set([
  '',
  'admissionregistration.k8s.io',
  'apiregistration.k8s.io',
  'apps',
  'authentication.k8s.io',
  'authorization.k8s.io',
  'autoscaling',
  'batch',
  'certificates.k8s.io',
  'coordination.k8s.io',
  'discovery.k8s.io',
  'events.k8s.io',
  'extensions',
  'flowcontrol.apiserver.k8s.io',
  'internal.apiserver.k8s.io',
  'networking.k8s.io',
  'node.k8s.io',
  'policy',
  'rbac.authorization.k8s.io',
  'resource.k8s.io',
  'scheduling.k8s.io',
  'storage.k8s.io',
  'storagemigration.k8s.io',
  'metrics.k8s.io',
]);

function rawEvents(file: string): LooseJson[] {
  const text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  if (file.endsWith('.eventlist.json')) return JSON.parse(text).items;
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}

function expectedRecords(files: string[]): number {
  let n = 0;
  for (const file of files) {
    for (const e of rawEvents(file)) {
      if (e.apiVersion !== undefined && e.apiVersion !== 'audit.k8s.io/v1') continue;
      if (e.stage !== 'ResponseComplete' && e.stage !== 'Panic') continue;
      if (!['create', 'update', 'patch', 'delete', 'deletecollection'].includes(e.verb)) continue;
      const ref = e.objectRef ?? {};
      if (!ref.resource || K8S_BUILT_IN.has(ref.apiGroup ?? '')) continue;
      const items =
        e.verb === 'deletecollection' && Array.isArray(e.responseObject?.items) ? e.responseObject.items.length : 1;
      n += Math.max(1, items);
    }
  }
  return n;
}

describe('foundation: apiserver EventList → webhook → Redis → worker → Elasticsearch', () => {
  let p: Pipeline;
  const cluster = `fixtures-${Date.now().toString(36)}`;
  const files = publicFixtureFiles();
  const byCluster = { term: { 'orchestrator.cluster.name': cluster } };

  before(async () => {
    p = await startPipeline(uniquePrefix('foundation'));
  });
  after(async () => {
    await p?.close();
  });

  test('every public fixture file replays; exactly the custom-resource mutations become documents', async () => {
    assert.ok(files.length >= 7, `fixtures found: ${files.map((f) => basename(f)).join(', ')}`);
    const expected = expectedRecords(files);
    assert.ok(expected > 0);
    const run = await runCli(['replay', ...files, '--cluster', cluster, '--url', p.url, '--batch', '50']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /rejected 0/);
    assert.match(run.stdout, /skipped v1beta1 486/);
    await p.idle();
    assert.equal(await p.count(byCluster), expected);
  });

  test('replaying the same files again adds no document', async () => {
    const before = await p.count(byCluster);
    const run = await runCli(['replay', ...files, '--cluster', cluster, '--url', p.url]);
    assert.equal(run.code, 0, run.stderr);
    await p.idle();
    assert.equal(await p.count(byCluster), before);
  });

  test('documents carry the contract fields the event gives', async () => {
    const docs = await p.search(byCluster);
    const del = docs.find((d) => d._source.event.action === 'delete');
    assert.ok(del, 'the failed prometheusrules delete is recorded');
    const s = del._source;
    assert.equal(s.event.outcome, 'failure');
    assert.equal(s.kubernetes.audit.responseStatus.code, 404);
    assert.equal(s.orchestrator.cluster.name, cluster);
    assert.equal(s.kubernetes.audit.objectRef.apiGroup, 'monitoring.coreos.com');
    assert.equal(s.kubernetes.audit.objectRef.resource, 'prometheusrules');
    assert.equal(s.kubernetes.audit.objectRef.name, 'kube-apiserver-slos-extended');
    assert.equal(
      s.kubernetes.audit.user.username,
      'system:serviceaccount:openshift-kube-apiserver-operator:kube-apiserver-operator',
    );
    assert.equal(s.crtrail.actor.kind, 'controller', 'an operator service account with its own userAgent');
    assert.equal(s.crtrail.actor.tool, 'cluster-kube-apiserver-operator');
    assert.ok(Date.parse(s['@timestamp']) > 0);
    const status = docs.filter((d) => d._source.kubernetes.audit.objectRef.subresource === 'status');
    assert.equal(status.length, 3);
    for (const d of docs)
      assert.equal(d._source.event.outcome === 'success', d._source.kubernetes.audit.responseStatus.code < 400);
  });
});

describe('crtrail up with Elasticsearch unreachable', () => {
  test('fails with a clear message, not a stack trace', async () => {
    const run = await runCli(['up', '--worker-only'], {
      CRTRAIL_ES_URL: 'http://127.0.0.2:9',
      CRTRAIL_WORKER_PORT: '0',
      CRTRAIL_INDEX_PREFIX: uniquePrefix('down'),
    });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /crtrail: Elasticsearch at http:\/\/127\.0\.0\.2:9 does not answer/);
    assert.doesNotMatch(run.stderr, /^\s+at /m);
  });
});

describe('crtrail up with a config file that has a typo', () => {
  test('fails at start naming the key and its line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crtrail-cfg-'));
    const file = join(dir, 'crtrail.yaml');
    writeFileSync(
      file,
      'critical:\n  - group: serving.example.ai\n    kind: InferenceService\n    pahts: [spec.modelVersion]\n',
    );
    const run = await runCli(['up', '--worker-only'], {
      CRTRAIL_CONFIG: file,
      CRTRAIL_WORKER_PORT: '0',
      CRTRAIL_INDEX_PREFIX: uniquePrefix('badcfg'),
    });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /crtrail\.yaml:4: critical\.0\.pahts: unknown key/);
    assert.doesNotMatch(run.stderr, /^\s+at /m);
  });
});
