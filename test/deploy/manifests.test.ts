// deploy/kubernetes and deploy/apiserver: every manifest parses, every rendered object conforms to
// its Kubernetes (or CRD) schema, and the pieces fit together — selectors, ports, probes, variables,
// Secrets, security, memory, NetworkPolicies. No cluster and no server: the render is made here, and
// compared with `kubectl kustomize` where kubectl is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments, parse } from 'yaml';
import { checkConfigText, envSchema, loadEnv } from '@crtrail/config';
import { TokenTable } from '@crtrail/webhook';
import { repoRoot } from '@crtrail/stack';
import { readYamlObjects, renderKustomization, type K8sObject } from './kustomize.js';
import { schemaProblems } from './schemas.js';
import {
  checkAvailability,
  checkCertificates,
  checkEnvNames,
  checkMemory,
  checkMountedFiles,
  checkNamespaces,
  checkNetworkPolicies,
  checkProbes,
  checkReferences,
  checkSecurity,
  checkServiceMonitors,
  checkServices,
  crtrailPods,
  effectiveEnv,
} from './checks.js';

const root = repoRoot();
const kube = join(root, 'deploy', 'kubernetes');
const apiserver = join(root, 'deploy', 'apiserver');
const NAMESPACE = 'crtrail';

/** The object schema inside @crtrail/config's envSchema (its refinements unwrapped). */
function envObject(): any {
  let schema: any = envSchema;
  while (schema._def.schema) schema = schema._def.schema;
  return schema;
}
/** Every variable crtrail reads: the env schema's keys, from @crtrail/config rather than a copied list. */
const ENV_KEYS = new Set(Object.keys(envObject().shape));
// The contract's defaults, as the services apply them to a variable the manifests leave unset.
const DEFAULTS = envObject().parse({});

/** The uid the image runs as: the final stage's USER in the Dockerfile (`node` is uid 1000 in the node images). */
function imageUid(): number {
  const stages = readFileSync(join(root, 'Dockerfile'), 'utf8').split(/^FROM /m);
  const user = [...stages.at(-1)!.matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1];
  if (!user) return 0;
  const known: Record<string, number> = { root: 0, node: 1000 };
  const uid = /^\d+/.test(user) ? Number(user.split(':')[0]) : known[user.split(':')[0]!];
  if (uid === undefined) throw new Error(`Dockerfile USER ${user}: unknown uid`);
  return uid;
}

/** A kustomization in a temporary folder: the base plus components, as a user's overlay would list them. */
function withComponents(...components: string[]): { dir: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'crtrail-kustomize-'));
  // Relative paths: kustomize refuses absolute ones.
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    `resources:\n  - ${relative(dir, join(kube, 'base'))}\ncomponents:\n${components.map((c) => `  - ${relative(dir, join(kube, 'components', c))}`).join('\n')}\n`,
  );
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

const RENDERS: { name: string; dir: () => { dir: string; done(): void }; extraIngress: string[] }[] = [
  { name: 'deploy/kubernetes (the base)', dir: () => ({ dir: kube, done() {} }), extraIngress: [] },
  { name: 'base + components/servicemonitor', dir: () => withComponents('servicemonitor'), extraIngress: ['crtrail-allow-prometheus'] },
  { name: 'overlays/cert-manager', dir: () => ({ dir: join(kube, 'overlays', 'cert-manager'), done() {} }), extraIngress: [] },
];

function render(name: string): K8sObject[] {
  const r = RENDERS.find((x) => x.name === name)!;
  const { dir, done } = r.dir();
  try {
    return renderKustomization(dir);
  } finally {
    done();
  }
}

/** Every check over one render: the list of problems (none when the install fits together). */
function allProblems(objects: K8sObject[], extraIngress: readonly string[]): string[] {
  return [
    ...checkNamespaces(objects, NAMESPACE),
    ...checkReferences(objects),
    ...checkMountedFiles(objects),
    ...checkEnvNames(objects, ENV_KEYS),
    ...checkServices(objects),
    ...checkProbes(objects, DEFAULTS),
    ...checkSecurity(objects, imageUid()),
    ...checkMemory(objects, DEFAULTS),
    ...checkNetworkPolicies(objects, extraIngress),
    ...checkAvailability(objects),
    ...checkServiceMonitors(objects),
    ...checkCertificates(objects),
  ];
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return /\.(ya?ml|kubeconfig)$/.test(name) ? [p] : [];
  });
}

test('every YAML file under deploy/ parses', () => {
  const files = yamlFiles(join(root, 'deploy'));
  assert.ok(files.length >= 15, `only ${files.length} files`);
  for (const file of files) assert.doesNotThrow(() => readYamlObjects(file), relative(root, file));
});

test('the image runs as a non-root user', () => {
  assert.notEqual(imageUid(), 0);
});

for (const r of RENDERS) {
  test(`${r.name}: every object conforms to its Kubernetes schema, unknown fields included`, async () => {
    const objects = render(r.name);
    assert.ok(objects.length > 10);
    const problems = (await Promise.all(objects.map(schemaProblems))).flat();
    assert.deepEqual(problems, []);
  });

  test(`${r.name}: the pieces fit together`, () => {
    const objects = render(r.name);
    assert.deepEqual(allProblems(objects, r.extraIngress), []);
    assert.deepEqual(crtrailPods(objects).map((p) => p.role).sort(), ['webhook', 'worker']);
  });
}

test('the optional parts add what they promise', () => {
  const base = render(RENDERS[0]!.name);
  const monitored = render(RENDERS[1]!.name);
  const certManager = render(RENDERS[2]!.name);
  const kinds = (objs: K8sObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`);
  assert.deepEqual(kinds(monitored).filter((k) => !kinds(base).includes(k)).sort(), [
    'NetworkPolicy/crtrail-allow-prometheus',
    'Service/crtrail-worker-metrics',
    'ServiceMonitor/crtrail-webhook',
    'ServiceMonitor/crtrail-worker',
  ]);
  // The placeholder certificate is gone; cert-manager writes the Secret of that name.
  assert.ok(base.some((o) => o.kind === 'Secret' && o.metadata.name === 'crtrail-webhook-tls'));
  assert.ok(!certManager.some((o) => o.kind === 'Secret' && o.metadata.name === 'crtrail-webhook-tls'));
  assert.ok(certManager.some((o) => o.kind === 'Certificate' && (o.spec as any).secretName === 'crtrail-webhook-tls'));
});

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

test('the test renderer renders what `kubectl kustomize` renders', { skip: kubectl ? false : 'kubectl is not installed' }, () => {
  const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
  for (const r of RENDERS) {
    const { dir, done } = r.dir();
    try {
      const theirs = parseAllDocuments(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })).map((d) => d.toJS() as K8sObject);
      const mine = renderKustomization(dir);
      assert.deepEqual(mine.map(key).sort(), theirs.map(key).sort(), r.name);
      const byKey = new Map(theirs.map((o) => [key(o), o]));
      // Same objects, key order aside (kustomize sorts keys; the renderer keeps the files' order).
      for (const o of mine) assert.ok(isDeepStrictEqual(JSON.parse(JSON.stringify(o)), byKey.get(key(o))), `${r.name}: ${key(o)} differs`);
    } finally {
      done();
    }
  }
});

test('the shipped CRTRAIL_CONFIG file is valid for crtrail', () => {
  const cm = render(RENDERS[0]!.name).find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('crtrail-config-'))!;
  const result = checkConfigText((cm.data as any)['crtrail.yaml'], 'crtrail.yaml');
  assert.equal(result.ok, true, JSON.stringify(result));
});

test('placeholders keep the services from starting, naming what to replace; real values pass', () => {
  const objects = render(RENDERS[0]!.name);
  for (const p of crtrailPods(objects)) {
    const env = Object.fromEntries([...effectiveEnv(objects, p.namespace, p.container)].filter(([k]) => k.startsWith('CRTRAIL_')));
    assert.throws(() => loadEnv(env), /CRTRAIL_REDACTION_SALT/, `${p.role}: a placeholder salt is refused`);
    // Everything else the manifests set is valid as it is: ports, URLs, names, paths.
    assert.doesNotThrow(() => loadEnv({ ...env, CRTRAIL_REDACTION_SALT: 'f'.repeat(64) }), p.role);
  }
  const secret = (name: string, key: string) => {
    const s = objects.find((o) => o.kind === 'Secret' && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`)))!;
    return (s.stringData as any)?.[key] ?? Buffer.from((s.data as any)[key], 'base64').toString('utf8');
  };
  assert.throws(() => TokenTable.parse(secret('crtrail-webhook-tokens', 'tokens'), 'tokens'), /no tokens/);
  assert.throws(() => new X509Certificate(secret('crtrail-webhook-tls', 'tls.crt')));
});

// Each check must be able to fail: one broken copy of the base per check.
const deployment = (objs: K8sObject[], name: string) => objs.find((o) => o.kind === 'Deployment' && o.metadata.name === name) as any;
const webhookContainer = (objs: K8sObject[]) => deployment(objs, 'crtrail-webhook').spec.template.spec.containers[0];
const workerContainer = (objs: K8sObject[]) => deployment(objs, 'crtrail-worker').spec.template.spec.containers[0];
const BREAKAGES: [string, (objs: K8sObject[]) => void][] = [
  ['a Service selector matching no pod', (o) => void ((o.find((x) => x.kind === 'Service') as any).spec.selector['app.kubernetes.io/component'] = 'web')],
  ['a probe on an undeclared port', (o) => void (webhookContainer(o).livenessProbe.httpGet.port = 'http')],
  ['a readiness probe on /healthz', (o) => void (workerContainer(o).readinessProbe.httpGet.path = '/healthz')],
  ['a container port other than CRTRAIL_PORT', (o) => void (webhookContainer(o).ports[0].containerPort = 8080)],
  ['a variable crtrail does not read', (o) => void webhookContainer(o).env.push({ name: 'CRTRAIL_TLS_CERTIFICATE', value: 'x' })],
  ['a ConfigMap that is not in the render', (o) => void (deployment(o, 'crtrail-worker').spec.template.spec.volumes[0].configMap.name = 'crtrail-cfg')],
  ['a file path no volume provides', (o) => void (webhookContainer(o).env.find((e: any) => e.name === 'CRTRAIL_TLS_KEY').value = '/etc/crtrail/tls/server.key')],
  ['running as root', (o) => void (deployment(o, 'crtrail-webhook').spec.template.spec.securityContext.runAsUser = 0)],
  ['a writable root filesystem', (o) => void (workerContainer(o).securityContext.readOnlyRootFilesystem = false)],
  ['a memory limit below the heap', (o) => void (workerContainer(o).resources.limits.memory = '512Mi')],
  ['more concurrency than the heap holds', (o) => void (workerContainer(o).env.find((e: any) => e.name === 'CRTRAIL_WORKER_CONCURRENCY').value = '8')],
  ['a NetworkPolicy that misses the webhook pods', (o) => void ((o.find((x) => x.metadata.name === 'crtrail-webhook' && x.kind === 'NetworkPolicy') as any).spec.podSelector.matchLabels['app.kubernetes.io/component'] = 'hook')],
  ['webhook ingress from every pod', (o) => void (o.find((x) => x.metadata.name === 'crtrail-webhook' && x.kind === 'NetworkPolicy') as any).spec.ingress[0].from.push({ podSelector: {} })],
  ['egress to any port', (o) => void delete (o.find((x) => x.metadata.name === 'crtrail-worker' && x.kind === 'NetworkPolicy') as any).spec.egress[0].ports],
  ['one webhook replica', (o) => void (deployment(o, 'crtrail-webhook').spec.replicas = 1)],
  ['an object outside the namespace', (o) => void (o.find((x) => x.kind === 'Service')!.metadata.namespace = 'default')],
];

for (const [name, breakIt] of BREAKAGES) {
  test(`the checks catch ${name}`, () => {
    const objects = structuredClone(render(RENDERS[0]!.name));
    assert.deepEqual(allProblems(objects, []), []);
    breakIt(objects);
    assert.notDeepEqual(allProblems(objects, []), [], name);
  });
}

test('the schema check catches a misspelt field and a wrong type', async () => {
  const objects = structuredClone(render(RENDERS[0]!.name));
  const c = webhookContainer(objects);
  c.livenesProbe = c.livenessProbe;
  assert.match((await schemaProblems(deployment(objects, 'crtrail-webhook'))).join('\n'), /unknown field .*livenesProbe/);
  const w = workerContainer(objects);
  w.ports[0].containerPort = '9464';
  assert.match((await schemaProblems(deployment(objects, 'crtrail-worker'))).join('\n'), /must be integer/);
});

test('the ServiceMonitor and certificate checks can fail', () => {
  const monitored = structuredClone(render(RENDERS[1]!.name));
  (monitored.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === 'crtrail-worker') as any).spec.endpoints[0].port = 'http-metrics';
  assert.notDeepEqual(checkServiceMonitors(monitored), []);
  const noScrape = structuredClone(render(RENDERS[1]!.name)).filter((o) => o.metadata.name !== 'crtrail-allow-prometheus');
  assert.notDeepEqual(checkServiceMonitors(noScrape), []);
  const certManager = structuredClone(render(RENDERS[2]!.name));
  (certManager.find((o) => o.metadata.name === 'crtrail-webhook' && o.kind === 'Certificate') as any).spec.dnsNames = ['crtrail.example.com'];
  assert.notDeepEqual(checkCertificates(certManager), []);
  const orphan = structuredClone(render(RENDERS[2]!.name)).filter((o) => !(o.kind === 'Certificate' && o.metadata.name === 'crtrail-webhook'));
  assert.notDeepEqual(checkReferences(orphan), []);
});

// The apiserver side.
const FLAG_FILES = ['audit-policy-file', 'audit-webhook-config-file'];

/** `--name=value` flags as a map, without the leading dashes. */
const flags = (list: string[]) => new Map(list.map((f) => f.replace(/^--/, '').split(/=(.*)/s).slice(0, 2) as [string, string]));

test('apiserver: kubeadm patch, kubeadm config, k3s and RKE2 set the same audit flags', () => {
  const patch = parse(readFileSync(join(apiserver, 'kubeadm-patches', 'kube-apiserver+json.yaml'), 'utf8')) as any[];
  const kubeadm = flags(patch.filter((op) => op.path === '/spec/containers/0/command/-').map((op) => op.value));
  const config = parse(readFileSync(join(apiserver, 'kubeadm-config.yaml'), 'utf8'));
  const fromConfig = new Map<string, string>(config.apiServer.extraArgs.map((a: any) => [a.name, String(a.value)]));
  const k3s = flags(parse(readFileSync(join(apiserver, 'distros', 'k3s-config.yaml'), 'utf8'))['kube-apiserver-arg']);
  const rke2Config = parse(readFileSync(join(apiserver, 'distros', 'rke2-config.yaml'), 'utf8'));
  const rke2 = flags(rke2Config['kube-apiserver-arg']);
  rke2.set('audit-policy-file', rke2Config['audit-policy-file']);
  assert.deepEqual([...kubeadm.keys()].sort(), ['audit-policy-file', 'audit-webhook-batch-buffer-size', 'audit-webhook-batch-max-size', 'audit-webhook-batch-max-wait', 'audit-webhook-config-file', 'audit-webhook-initial-backoff', 'audit-webhook-mode']);
  for (const [name, other] of [['kubeadm-config.yaml', fromConfig], ['k3s', k3s], ['rke2', rke2]] as const) {
    assert.deepEqual(Object.fromEntries([...other].sort()), Object.fromEntries([...kubeadm].sort()), name);
  }
  // The batch size is the one the README's "Connecting a cluster" gives.
  assert.match(readFileSync(join(root, 'README.md'), 'utf8'), new RegExp(`--audit-webhook-batch-max-size=${kubeadm.get('audit-webhook-batch-max-size')}\\b`));
});

test('apiserver: the kubeadm patch applies to a kube-apiserver static pod and mounts every file it names', async () => {
  const pod: K8sObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'kube-apiserver', namespace: 'kube-system' },
    spec: { hostNetwork: true, containers: [{ name: 'kube-apiserver', image: 'registry.k8s.io/kube-apiserver:v1.31.0', command: ['kube-apiserver', '--secure-port=6443'], volumeMounts: [] }], volumes: [] },
  };
  const patch = parse(readFileSync(join(apiserver, 'kubeadm-patches', 'kube-apiserver+json.yaml'), 'utf8')) as any[];
  for (const op of patch) {
    assert.equal(op.op, 'add');
    assert.match(op.path, /\/-$/, 'appends only: the existing flags and mounts stay');
    const parent = op.path.split('/').slice(1, -1).reduce((node: any, seg: string) => node[seg], pod);
    assert.ok(Array.isArray(parent), op.path);
    parent.push(op.value);
  }
  assert.deepEqual(await schemaProblems(pod), []);
  const spec = pod.spec as any;
  const mounts: any[] = spec.containers[0].volumeMounts;
  const files = flags(spec.containers[0].command.slice(1));
  for (const name of FLAG_FILES) {
    const file = files.get(name)!;
    const mount = mounts.find((m) => file.startsWith(`${m.mountPath}/`));
    assert.ok(mount, `${name}=${file} is not under a mount`);
    assert.equal(spec.volumes.find((v: any) => v.name === mount.name)?.hostPath?.path, mount.mountPath);
  }
});

test('apiserver: the webhook kubeconfig reaches the Service, trusts its certificate, and its files sit beside the flags', () => {
  const kubeconfig = parse(readFileSync(join(apiserver, 'audit-webhook.kubeconfig'), 'utf8'));
  const cluster = kubeconfig.clusters.find((c: any) => c.name === kubeconfig.contexts.find((x: any) => x.name === kubeconfig['current-context']).context.cluster).cluster;
  const url = new URL(cluster.server);
  const objects = render(RENDERS[2]!.name);
  const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'crtrail-webhook') as any;
  assert.equal(url.protocol, 'https:');
  assert.equal(Number(url.port || 443), svc.spec.ports[0].port);
  // A token names the cluster: the path is plain /audit (a path naming another cluster would be a 403).
  assert.equal(url.pathname, '/audit');
  assert.equal(cluster['tls-server-name'], `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
  const cert = objects.find((o) => o.kind === 'Certificate' && o.metadata.name === 'crtrail-webhook') as any;
  assert.ok(cert.spec.dnsNames.includes(cluster['tls-server-name']));
  const user = kubeconfig.users[0].user;
  const dir = flags(parse(readFileSync(join(apiserver, 'kubeadm-patches', 'kube-apiserver+json.yaml'), 'utf8')).map((op: any) => op.value).filter((v: unknown) => typeof v === 'string'))
    .get('audit-webhook-config-file')!
    .replace(/\/[^/]+$/, '');
  for (const file of [cluster['certificate-authority'], user.tokenFile]) assert.equal(file.replace(/\/[^/]+$/, ''), dir, file);
  // The policy the flags name is the repository's one copy.
  const policy = parse(readFileSync(join(root, 'audit-policy.yaml'), 'utf8'));
  assert.equal(policy.kind, 'Policy');
});
