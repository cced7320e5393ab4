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
import { fileURLToPath } from 'node:url';
import { X509Certificate } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments, parse } from 'yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { checkConfigText, envSchema, loadEnv, TokenTable, type Env } from '@crtrail/config';
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

const root = fileURLToPath(new URL('../..', import.meta.url));
const kube = join(root, 'deploy', 'kubernetes');
const apiserver = join(root, 'deploy', 'apiserver');
const NAMESPACE = 'crtrail';

/** The part of a zod schema used here: refinements wrap the object schema in `_def.schema`. */
interface ZodSchema {
  _def: { schema?: ZodSchema };
  shape?: Record<string, unknown>;
  parse(value: unknown): unknown;
}
/** The object schema inside @crtrail/config's envSchema (its refinements unwrapped). */
function envObject(): ZodSchema {
  let schema = envSchema as unknown as ZodSchema;
  while (schema._def.schema) schema = schema._def.schema;
  return schema;
}
/** Every variable crtrail reads: the env schema's keys, from @crtrail/config rather than a copied list. */
const ENV_KEYS = new Set(Object.keys(envObject().shape ?? {}));
// The contract's defaults, as the services apply them to a variable the manifests leave unset.
const DEFAULTS = envObject().parse({}) as Env;

/** The value, or a failed test naming what is missing. */
function must<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new assert.AssertionError({ message: `missing: ${what}` });
  return value;
}
const as = <T>(obj: K8sObject): T => obj as unknown as T;

/** The uid the image runs as: the final stage's USER in the Dockerfile (`node` is uid 1000 in the node images). */
function imageUid(): number {
  const stages = readFileSync(join(root, 'Dockerfile'), 'utf8').split(/^FROM /m);
  const user = [...(stages.at(-1) ?? '').matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1];
  if (!user) return 0;
  const known: Record<string, number> = { root: 0, node: 1000 };
  const name = user.split(':')[0] ?? '';
  const uid = /^\d+$/.test(name) ? Number(name) : known[name];
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

const BASE = 'deploy/kubernetes (the base)';
const MONITORED = 'base + components/servicemonitor';
const CERT_MANAGER = 'overlays/cert-manager';
const RENDERS: { name: string; dir: () => { dir: string; done(): void }; extraIngress: string[] }[] = [
  { name: BASE, dir: () => ({ dir: kube, done() {} }), extraIngress: [] },
  { name: MONITORED, dir: () => withComponents('servicemonitor'), extraIngress: ['crtrail-allow-prometheus'] },
  { name: CERT_MANAGER, dir: () => ({ dir: join(kube, 'overlays', 'cert-manager'), done() {} }), extraIngress: [] },
];

function render(name: string): K8sObject[] {
  const r = must(
    RENDERS.find((x) => x.name === name),
    name,
  );
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
    assert.deepEqual(
      crtrailPods(objects)
        .map((p) => p.role)
        .sort(),
      ['webhook', 'worker'],
    );
  });
}

test('the optional parts add what they promise', () => {
  const base = render(BASE);
  const kinds = (objs: K8sObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`);
  assert.deepEqual(
    kinds(render(MONITORED))
      .filter((k) => !kinds(base).includes(k))
      .sort(),
    [
      'NetworkPolicy/crtrail-allow-prometheus',
      'Service/crtrail-worker-metrics',
      'ServiceMonitor/crtrail-webhook',
      'ServiceMonitor/crtrail-worker',
    ],
  );
  // The placeholder certificate is gone; cert-manager writes the Secret of that name.
  const certManager = render(CERT_MANAGER);
  assert.ok(base.some((o) => o.kind === 'Secret' && o.metadata.name === 'crtrail-webhook-tls'));
  assert.ok(!certManager.some((o) => o.kind === 'Secret' && o.metadata.name === 'crtrail-webhook-tls'));
  assert.ok(
    certManager.some((o) => o.kind === 'Certificate' && as<ICertificate>(o).spec?.secretName === 'crtrail-webhook-tls'),
  );
});

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

test(
  'the test renderer renders what `kubectl kustomize` renders',
  { skip: kubectl ? false : 'kubectl is not installed' },
  () => {
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
    for (const r of RENDERS) {
      const { dir, done } = r.dir();
      try {
        const theirs = parseAllDocuments(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })).map(
          (d) => d.toJS() as K8sObject,
        );
        const mine = renderKustomization(dir);
        assert.deepEqual(mine.map(key).sort(), theirs.map(key).sort(), r.name);
        const byKey = new Map(theirs.map((o) => [key(o), o]));
        // Same objects, key order aside (kustomize sorts keys; the renderer keeps the files' order).
        for (const o of mine)
          assert.ok(
            isDeepStrictEqual(JSON.parse(JSON.stringify(o)), byKey.get(key(o))),
            `${r.name}: ${key(o)} differs`,
          );
      } finally {
        done();
      }
    }
  },
);

/** The text of a key of a Secret or ConfigMap in the render (generated names carry a hash suffix). */
function dataOf(objects: K8sObject[], kind: 'ConfigMap' | 'Secret', name: string, key: string): string {
  const obj = must(
    objects.find((o) => o.kind === kind && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`))),
    `${kind} ${name}`,
  );
  const stringData = (obj.stringData ?? {}) as Record<string, string>;
  const data = (obj.data ?? {}) as Record<string, string>;
  const value = must(stringData[key] ?? data[key], `${kind} ${name} key ${key}`);
  return kind === 'Secret' && stringData[key] === undefined ? Buffer.from(value, 'base64').toString('utf8') : value;
}

test('the shipped CRTRAIL_CONFIG file is valid for crtrail', () => {
  const result = checkConfigText(dataOf(render(BASE), 'ConfigMap', 'crtrail-config', 'crtrail.yaml'), 'crtrail.yaml');
  assert.equal(result.ok, true, JSON.stringify(result));
});

test('placeholders keep the services from starting, naming what to replace; real values pass', () => {
  const objects = render(BASE);
  for (const p of crtrailPods(objects)) {
    const env = Object.fromEntries(
      [...effectiveEnv(objects, p.namespace, p.container)].filter(([k]) => k.startsWith('CRTRAIL_')),
    );
    assert.throws(() => loadEnv(env), /CRTRAIL_REDACTION_SALT/, `${p.role}: a placeholder salt is refused`);
    // Everything else the manifests set is valid as it is: ports, URLs, names, paths.
    assert.doesNotThrow(() => loadEnv({ ...env, CRTRAIL_REDACTION_SALT: 'f'.repeat(64) }), p.role);
  }
  assert.throws(
    () => TokenTable.parse(dataOf(objects, 'Secret', 'crtrail-webhook-tokens', 'tokens'), 'tokens'),
    /no tokens/,
  );
  assert.throws(() => new X509Certificate(dataOf(objects, 'Secret', 'crtrail-webhook-tls', 'tls.crt')));
});

// Each check must be able to fail: one broken copy of the base per check.
const named = <T>(objs: K8sObject[], kind: string, name: string): T =>
  as<T>(
    must(
      objs.find((o) => o.kind === kind && o.metadata.name === name),
      `${kind} ${name}`,
    ),
  );
const podOf = (objs: K8sObject[], name: string): IPodSpec =>
  must(named<IDeployment>(objs, 'Deployment', name).spec?.template.spec, `${name} pod spec`);
const containerOf = (objs: K8sObject[], name: string): IContainer =>
  must(podOf(objs, name).containers[0], `${name} container`);
const envVar = (c: IContainer, name: string) =>
  must(
    c.env?.find((e) => e.name === name),
    name,
  );
const policy = (objs: K8sObject[], name: string) =>
  must(named<INetworkPolicy>(objs, 'NetworkPolicy', name).spec, `NetworkPolicy ${name}`);
const WEBHOOK = 'crtrail-webhook';
const WORKER = 'crtrail-worker';
const BREAKAGES: [string, (objs: K8sObject[]) => void][] = [
  [
    'a Service selector matching no pod',
    (o) =>
      void (must(named<IService>(o, 'Service', WEBHOOK).spec?.selector, 'selector')['app.kubernetes.io/component'] =
        'web'),
  ],
  [
    'a probe on an undeclared port',
    (o) => void (must(containerOf(o, WEBHOOK).livenessProbe?.httpGet, 'httpGet').port = 'http'),
  ],
  [
    'a readiness probe on /healthz',
    (o) => void (must(containerOf(o, WORKER).readinessProbe?.httpGet, 'httpGet').path = '/healthz'),
  ],
  [
    'a container port other than CRTRAIL_PORT',
    (o) => void (must(containerOf(o, WEBHOOK).ports?.[0], 'port').containerPort = 8080),
  ],
  [
    'a variable crtrail does not read',
    (o) => void containerOf(o, WEBHOOK).env?.push({ name: 'CRTRAIL_TLS_CERTIFICATE', value: 'x' }),
  ],
  [
    'a ConfigMap that is not in the render',
    (o) => void (must(podOf(o, WORKER).volumes?.[0]?.configMap, 'configMap').name = 'crtrail-cfg'),
  ],
  [
    'a file path no volume provides',
    (o) => void (envVar(containerOf(o, WEBHOOK), 'CRTRAIL_TLS_KEY').value = '/etc/crtrail/tls/server.key'),
  ],
  ['running as root', (o) => void (must(podOf(o, WEBHOOK).securityContext, 'securityContext').runAsUser = 0)],
  [
    'a writable root filesystem',
    (o) => void (must(containerOf(o, WORKER).securityContext, 'securityContext').readOnlyRootFilesystem = false),
  ],
  [
    'a memory limit below the heap',
    (o) => void (must(containerOf(o, WORKER).resources?.limits, 'limits').memory = '512Mi'),
  ],
  [
    'more concurrency than the heap holds',
    (o) => void (envVar(containerOf(o, WORKER), 'CRTRAIL_WORKER_CONCURRENCY').value = '64'),
  ],
  [
    'a NetworkPolicy that misses the webhook pods',
    (o) =>
      void (must(policy(o, WEBHOOK).podSelector.matchLabels, 'matchLabels')['app.kubernetes.io/component'] = 'hook'),
  ],
  ['webhook ingress from every pod', (o) => void policy(o, WEBHOOK).ingress?.[0]?.from?.push({ podSelector: {} })],
  ['egress to any port', (o) => void delete must(policy(o, WORKER).egress?.[0], 'egress').ports],
  ['one webhook replica', (o) => void (must(named<IDeployment>(o, 'Deployment', WEBHOOK).spec, 'spec').replicas = 1)],
  [
    'an object outside the namespace',
    (o) => void (named<K8sObject>(o, 'Service', WEBHOOK).metadata.namespace = 'default'),
  ],
];

for (const [name, breakIt] of BREAKAGES) {
  test(`the checks catch ${name}`, () => {
    const objects = structuredClone(render(BASE));
    assert.deepEqual(allProblems(objects, []), []);
    breakIt(objects);
    assert.notDeepEqual(allProblems(objects, []), [], name);
  });
}

test('the schema check catches a misspelt field and a wrong type', async () => {
  const objects = structuredClone(render(BASE));
  const c = containerOf(objects, WEBHOOK) as IContainer & { livenesProbe?: unknown };
  c.livenesProbe = c.livenessProbe;
  assert.match(
    (await schemaProblems(named<K8sObject>(objects, 'Deployment', WEBHOOK))).join('\n'),
    /unknown field .*livenesProbe/,
  );
  (must(containerOf(objects, WORKER).ports?.[0], 'port') as { containerPort: unknown }).containerPort = '9464';
  assert.match((await schemaProblems(named<K8sObject>(objects, 'Deployment', WORKER))).join('\n'), /must be integer/);
});

test('the ServiceMonitor and certificate checks can fail', () => {
  const monitored = structuredClone(render(MONITORED));
  must(named<IServiceMonitor>(monitored, 'ServiceMonitor', WORKER).spec.endpoints[0], 'endpoint').port = 'http-metrics';
  assert.notDeepEqual(checkServiceMonitors(monitored), []);
  const noScrape = structuredClone(render(MONITORED)).filter((o) => o.metadata.name !== 'crtrail-allow-prometheus');
  assert.notDeepEqual(checkServiceMonitors(noScrape), []);
  const certManager = structuredClone(render(CERT_MANAGER));
  must(named<ICertificate>(certManager, 'Certificate', WEBHOOK).spec, 'spec').dnsNames = ['crtrail.example.com'];
  assert.notDeepEqual(checkCertificates(certManager), []);
  const orphan = structuredClone(render(CERT_MANAGER)).filter(
    (o) => !(o.kind === 'Certificate' && o.metadata.name === WEBHOOK),
  );
  assert.notDeepEqual(checkReferences(orphan), []);
});

// The apiserver side.
const FLAG_FILES = ['audit-policy-file', 'audit-webhook-config-file'];

/** `--name=value` flags as a map, without the leading dashes. */
const flags = (list: string[]) =>
  new Map(
    list.map((f): [string, string] => {
      const [name = '', value = ''] = f.replace(/^--/, '').split(/=(.*)/s);
      return [name, value];
    }),
  );

interface JsonPatchOp {
  op: string;
  path: string;
  value: unknown;
}
const kubeadmPatch = (): JsonPatchOp[] =>
  parse(readFileSync(join(apiserver, 'kubeadm-patches', 'kube-apiserver+json.yaml'), 'utf8')) as JsonPatchOp[];
const commandFlags = (ops: JsonPatchOp[]) =>
  flags(ops.filter((op) => op.path === '/spec/containers/0/command/-').map((op) => String(op.value)));
const readYaml = (...path: string[]): Record<string, unknown> =>
  parse(readFileSync(join(apiserver, ...path), 'utf8')) as Record<string, unknown>;

test('apiserver: kubeadm patch, kubeadm config, k3s and RKE2 set the same audit flags', () => {
  const kubeadm = commandFlags(kubeadmPatch());
  const config = readYaml('kubeadm-config.yaml') as { apiServer: { extraArgs: { name: string; value: unknown }[] } };
  const fromConfig = new Map(config.apiServer.extraArgs.map((a) => [a.name, String(a.value)]));
  const k3s = flags(readYaml('distros', 'k3s-config.yaml')['kube-apiserver-arg'] as string[]);
  const rke2Config = readYaml('distros', 'rke2-config.yaml');
  const rke2 = flags(rke2Config['kube-apiserver-arg'] as string[]);
  rke2.set('audit-policy-file', String(rke2Config['audit-policy-file']));
  assert.deepEqual([...kubeadm.keys()].sort(), [
    'audit-policy-file',
    'audit-webhook-batch-buffer-size',
    'audit-webhook-batch-max-size',
    'audit-webhook-batch-max-wait',
    'audit-webhook-config-file',
    'audit-webhook-initial-backoff',
    'audit-webhook-mode',
  ]);
  for (const [name, other] of [
    ['kubeadm-config.yaml', fromConfig],
    ['k3s', k3s],
    ['rke2', rke2],
  ] as const) {
    assert.deepEqual(Object.fromEntries([...other].sort()), Object.fromEntries([...kubeadm].sort()), name);
  }
  // The batch size is the one the README's "Connecting a cluster" gives.
  assert.match(
    readFileSync(join(root, 'README.md'), 'utf8'),
    new RegExp(`--audit-webhook-batch-max-size=${kubeadm.get('audit-webhook-batch-max-size')}\\b`),
  );
});

test('apiserver: the kubeadm patch applies to a kube-apiserver static pod and mounts every file it names', async () => {
  const spec: IPodSpec = {
    hostNetwork: true,
    containers: [
      {
        name: 'kube-apiserver',
        image: 'registry.k8s.io/kube-apiserver:v1.31.0',
        command: ['kube-apiserver', '--secure-port=6443'],
        volumeMounts: [],
      },
    ],
    volumes: [],
  };
  const pod: K8sObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'kube-apiserver', namespace: 'kube-system' },
    spec,
  };
  for (const op of kubeadmPatch()) {
    assert.equal(op.op, 'add');
    assert.match(op.path, /\/-$/, 'appends only: the existing flags and mounts stay');
    const parent = op.path
      .split('/')
      .slice(1, -1)
      .reduce<unknown>((node, segment) => (node as Record<string, unknown>)[segment], pod);
    assert.ok(Array.isArray(parent), op.path);
    parent.push(op.value);
  }
  assert.deepEqual(await schemaProblems(pod), []);
  const container = must(spec.containers[0], 'container');
  const files = flags((container.command ?? []).slice(1));
  for (const name of FLAG_FILES) {
    const file = must(files.get(name), name);
    const mount = must(
      (container.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath}/`)),
      `a mount holding ${name}=${file}`,
    );
    assert.equal(spec.volumes?.find((v) => v.name === mount.name)?.hostPath?.path, mount.mountPath);
  }
});

interface Kubeconfig {
  clusters: {
    name: string;
    cluster: { server: string; 'tls-server-name'?: string; 'certificate-authority'?: string };
  }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  users: { name: string; user: { tokenFile?: string } }[];
  'current-context': string;
}

test('apiserver: the webhook kubeconfig reaches the Service, trusts its certificate, and its files sit beside the flags', () => {
  const kubeconfig = readYaml('audit-webhook.kubeconfig') as unknown as Kubeconfig;
  const context = must(
    kubeconfig.contexts.find((x) => x.name === kubeconfig['current-context']),
    'current context',
  ).context;
  const cluster = must(
    kubeconfig.clusters.find((c) => c.name === context.cluster),
    'cluster',
  ).cluster;
  const user = must(
    kubeconfig.users.find((u) => u.name === context.user),
    'user',
  ).user;
  const url = new URL(cluster.server);
  const objects = render(CERT_MANAGER);
  const svc = named<IService & K8sObject>(objects, 'Service', WEBHOOK);
  assert.equal(url.protocol, 'https:');
  assert.equal(Number(url.port || 443), svc.spec?.ports?.[0]?.port);
  // A token names the cluster: the path is plain /audit (a path naming another cluster would be a 403).
  assert.equal(url.pathname, '/audit');
  assert.equal(cluster['tls-server-name'], `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
  assert.ok(named<ICertificate>(objects, 'Certificate', WEBHOOK).spec?.dnsNames?.includes(cluster['tls-server-name']));
  const dir = must(commandFlags(kubeadmPatch()).get('audit-webhook-config-file'), 'audit-webhook-config-file').replace(
    /\/[^/]+$/,
    '',
  );
  for (const file of [cluster['certificate-authority'], user.tokenFile])
    assert.equal(must(file, 'a file').replace(/\/[^/]+$/, ''), dir, file);
  // The policy the flags name is the repository's one copy.
  assert.equal((parse(readFileSync(join(root, 'audit-policy.yaml'), 'utf8')) as { kind: string }).kind, 'Policy');
});
