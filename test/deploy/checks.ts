// Wiring checks of a rendered install: each returns the problems it finds (none: the check passed),
// so the tests can show that every check also fails on a broken manifest.
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { workerHeapNeedMb } from '@crtrail/config';
import { podReferences, podSpecOf, type K8sObject } from './kustomize.js';

// The renders are schema-validated by the tests, so their objects are viewed through the models' types.
const as = <T>(obj: K8sObject): T => obj as unknown as T;
const ofKind = <T>(render: K8sObject[], kind: string): (T & K8sObject)[] =>
  render.filter((o) => o.kind === kind) as (T & K8sObject)[];
type Selector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
};
type IntOrString = number | string;

/** Bytes of memory in MiB from a Kubernetes quantity (`768Mi`, `1Gi`, `800M`, `1073741824`). */
export function mebibytes(quantity: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(quantity));
  if (!m) throw new Error(`not a memory quantity: ${quantity}`);
  const factor: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return (Number(m[1]) * (m[2] ? (factor[m[2]] ?? NaN) : 1)) / 2 ** 20;
}

/** A pod template with its workload, and the containers that run crtrail (`crtrail up …`). */
export interface CrtrailPod {
  workload: K8sObject;
  pod: IPodSpec;
  labels: Record<string, string>;
  namespace: string;
  container: IContainer;
  args: string[];
  role: 'webhook' | 'worker' | 'all-in-one';
}

export function crtrailPods(render: K8sObject[]): CrtrailPod[] {
  return render.flatMap((workload) => {
    const pod = podSpecOf(workload);
    if (!pod) return [];
    const labels = as<IDeployment>(workload).spec?.template.metadata?.labels ?? {};
    return pod.containers.flatMap((container) => {
      const args = container.args ?? [];
      if (args[0] !== 'up') return [];
      const role = args.includes('--webhook-only')
        ? 'webhook'
        : args.includes('--worker-only')
          ? 'worker'
          : 'all-in-one';
      return [
        { workload, pod, labels, namespace: workload.metadata.namespace ?? 'default', container, args, role } as const,
      ];
    });
  });
}

function find(render: K8sObject[], kind: string, name: string, namespace: string): K8sObject | undefined {
  return render.find(
    (o) => o.kind === kind && o.metadata.name === name && (o.metadata.namespace ?? 'default') === namespace,
  );
}

/** The keys a Secret of this name will hold: its data, or what cert-manager writes for a Certificate naming it. */
function secretKeys(render: K8sObject[], name: string, namespace: string): string[] | undefined {
  const secret = find(render, 'Secret', name, namespace);
  if (secret) return [...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})];
  const issued = ofKind<ICertificate>(render, 'Certificate').find(
    (o) => (o.metadata.namespace ?? 'default') === namespace && o.spec?.secretName === name,
  );
  return issued ? ['tls.crt', 'tls.key', 'ca.crt'] : undefined;
}

function keysOf(
  render: K8sObject[],
  kind: 'ConfigMap' | 'Secret',
  name: string,
  namespace: string,
): string[] | undefined {
  if (kind === 'Secret') return secretKeys(render, name, namespace);
  const cm = find(render, 'ConfigMap', name, namespace);
  return cm ? [...Object.keys(cm.data ?? {}), ...Object.keys(cm.binaryData ?? {})] : undefined;
}

function secretValues(obj: K8sObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj.data ?? {}))
    out[k] = obj.kind === 'Secret' ? Buffer.from(String(v), 'base64').toString('utf8') : String(v);
  for (const [k, v] of Object.entries(obj.stringData ?? {})) out[k] = String(v);
  return out;
}

/** The environment a container starts with: envFrom sources first, then env (which overrides them). */
export function effectiveEnv(
  render: K8sObject[],
  namespace: string,
  container: IContainer,
): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  for (const from of container.envFrom ?? []) {
    const source = find(
      render,
      from.configMapRef ? 'ConfigMap' : 'Secret',
      (from.configMapRef ?? from.secretRef)?.name ?? '',
      namespace,
    );
    for (const [k, v] of Object.entries(source ? secretValues(source) : {})) env.set(`${from.prefix ?? ''}${k}`, v);
  }
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.secretKeyRef;
    if (ref) {
      const source = find(render, e.valueFrom?.configMapKeyRef ? 'ConfigMap' : 'Secret', ref.name ?? '', namespace);
      env.set(e.name, source ? secretValues(source)[ref.key] : undefined);
    } else env.set(e.name, e.value ?? '');
  }
  return env;
}

/** Every ConfigMap and Secret a pod or a ServiceMonitor names exists in the render, with the keys named. */
export function checkReferences(render: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const obj of render) {
    const ns = obj.metadata.namespace ?? 'default';
    const pod = podSpecOf(obj);
    for (const ref of pod ? podReferences(pod) : []) {
      const keys = keysOf(render, ref.kind, ref.name ?? '', ns);
      if (!keys) problems.push(`${obj.kind} ${obj.metadata.name}: ${ref.kind} ${ref.name} is not in the render`);
      else if (ref.key && !keys.includes(ref.key))
        problems.push(`${obj.kind} ${obj.metadata.name}: ${ref.kind} ${ref.name} has no key ${ref.key}`);
    }
    if (obj.kind === 'ServiceMonitor') {
      for (const ep of as<IServiceMonitor>(obj).spec.endpoints) {
        const ref = ep.tlsConfig?.ca?.secret;
        if (ref && !secretKeys(render, ref.name ?? '', ns)?.includes(ref.key))
          problems.push(`ServiceMonitor ${obj.metadata.name}: Secret ${ref.name} key ${ref.key} is not in the render`);
      }
    }
  }
  return problems;
}

/**
 * Every file a variable names (CRTRAIL_CONFIG, CRTRAIL_TLS_CERT, …) is a key of the ConfigMap or
 * Secret mounted where it points, and /tmp is a writable emptyDir (the root filesystem is read-only).
 */
export function checkMountedFiles(render: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const { workload, pod, namespace, container } of crtrailPods(render)) {
    const where = `${workload.metadata.name}/${container.name}`;
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    const mounts = container.volumeMounts ?? [];
    for (const [name, value] of effectiveEnv(render, namespace, container)) {
      if (!value?.startsWith('/')) continue;
      const mount = mounts.find((m) => value.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
      if (!mount) {
        problems.push(`${where}: ${name}=${value}: no volume is mounted there`);
        continue;
      }
      const volume = volumes.get(mount.name);
      const file = value.slice(mount.mountPath.replace(/\/$/, '').length + 1);
      const source = volume?.configMap
        ? (['ConfigMap', volume.configMap.name] as const)
        : volume?.secret
          ? (['Secret', volume.secret.secretName] as const)
          : undefined;
      if (!source) problems.push(`${where}: ${name}=${value}: volume ${mount.name} is not a ConfigMap or Secret`);
      else if (!keysOf(render, source[0], source[1] ?? '', namespace)?.includes(file))
        problems.push(`${where}: ${name}=${value}: ${source[0]} ${source[1]} has no key ${file}`);
    }
    const tmp = mounts.find((m) => m.mountPath === '/tmp');
    if (!tmp || !volumes.get(tmp.name)?.emptyDir || tmp.readOnly)
      problems.push(`${where}: /tmp is not a writable emptyDir`);
  }
  return problems;
}

/** Every variable set is one crtrail reads (`known`: the env schema's keys), or Node's NODE_OPTIONS. */
export function checkEnvNames(render: K8sObject[], known: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const { workload, namespace, container } of crtrailPods(render)) {
    for (const name of effectiveEnv(render, namespace, container).keys()) {
      if (!known.has(name) && name !== 'NODE_OPTIONS')
        problems.push(`${workload.metadata.name}/${container.name}: ${name} is not a variable crtrail reads`);
    }
  }
  return problems;
}

/** A label selector (matchLabels/matchExpressions) or a Service's plain label map. */
function matchesSelector(
  selector: Selector | Record<string, string> | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  const { matchLabels, matchExpressions = [] }: Selector =
    'matchLabels' in selector || 'matchExpressions' in selector
      ? (selector as Selector)
      : { matchLabels: selector as Record<string, string> };
  if (!Object.entries(matchLabels ?? {}).every(([k, v]) => labels[k] === v)) return false;
  return matchExpressions.every((e) => {
    const has = e.key in labels;
    const value = labels[e.key] ?? '';
    if (e.operator === 'In') return has && (e.values ?? []).includes(value);
    if (e.operator === 'NotIn') return !has || !(e.values ?? []).includes(value);
    if (e.operator === 'Exists') return has;
    if (e.operator === 'DoesNotExist') return !has;
    throw new Error(`unknown selector operator ${e.operator}`);
  });
}

/** A port named or numbered `port` among a container's ports: its number, or undefined. */
function containerPort(container: IContainer, port: IntOrString | undefined): number | undefined {
  return (container.ports ?? []).find((cp) => cp.name === port || cp.containerPort === port)?.containerPort;
}

/** Each Service selects crtrail pods, and each of its target ports is a port of those pods. */
export function checkServices(render: K8sObject[]): string[] {
  const problems: string[] = [];
  const pods = crtrailPods(render);
  for (const svc of ofKind<IService>(render, 'Service')) {
    const spec = svc.spec ?? {};
    const selected = pods.filter(
      (p) =>
        p.namespace === svc.metadata.namespace &&
        Object.keys(spec.selector ?? {}).length > 0 &&
        matchesSelector(spec.selector, p.labels),
    );
    if (selected.length === 0) problems.push(`Service ${svc.metadata.name}: its selector matches no pod template`);
    for (const port of spec.ports ?? []) {
      for (const p of selected) {
        if (containerPort(p.container, port.targetPort ?? port.port) === undefined)
          problems.push(
            `Service ${svc.metadata.name}: targetPort ${port.targetPort} is not a port of ${p.workload.metadata.name}`,
          );
      }
    }
  }
  return problems;
}

/**
 * Probes hit the real endpoints on real ports: liveness /healthz, readiness /readyz, on a declared
 * container port, HTTPS where the webhook serves TLS; and the ports are the ones crtrail listens on
 * (CRTRAIL_PORT, CRTRAIL_WORKER_PORT, on an address other pods reach).
 */
export function checkProbes(
  render: K8sObject[],
  defaults: { CRTRAIL_PORT: number; CRTRAIL_WORKER_PORT: number; CRTRAIL_HOST: string },
): string[] {
  const problems: string[] = [];
  for (const { workload, namespace, container, role } of crtrailPods(render)) {
    const where = `${workload.metadata.name}/${container.name}`;
    const env = effectiveEnv(render, namespace, container);
    const host = env.get('CRTRAIL_HOST') ?? defaults.CRTRAIL_HOST;
    if (host.startsWith('127.') || host === 'localhost' || host === '::1')
      problems.push(`${where}: CRTRAIL_HOST=${host} is reachable from inside the pod only`);
    const variable = role === 'worker' ? 'CRTRAIL_WORKER_PORT' : 'CRTRAIL_PORT';
    const listens = Number(env.get(variable) ?? defaults[variable]);
    const tls = role !== 'worker' && Boolean(env.get('CRTRAIL_TLS_CERT'));
    for (const [kind, path] of [
      ['livenessProbe', '/healthz'],
      ['readinessProbe', '/readyz'],
    ] as const) {
      const probe = container[kind];
      if (!probe?.httpGet) {
        problems.push(`${where}: no ${kind} httpGet`);
        continue;
      }
      if (probe.httpGet.path !== path) problems.push(`${where}: ${kind} on ${probe.httpGet.path}, not ${path}`);
      const port = containerPort(container, probe.httpGet.port);
      if (port === undefined) problems.push(`${where}: ${kind} port ${probe.httpGet.port} is not a container port`);
      else if (port !== listens) problems.push(`${where}: ${kind} on port ${port}, but ${variable} is ${listens}`);
      if ((probe.httpGet.scheme ?? 'HTTP') !== (tls ? 'HTTPS' : 'HTTP'))
        problems.push(`${where}: ${kind} scheme ${probe.httpGet.scheme ?? 'HTTP'} but TLS is ${tls ? 'on' : 'off'}`);
    }
  }
  return problems;
}

/** The pod and container settings of the "restricted" Pod Security Standard, as the image's own non-root user. */
export function checkSecurity(render: K8sObject[], imageUid: number): string[] {
  const problems: string[] = [];
  for (const { workload, pod, container } of crtrailPods(render)) {
    const where = `${workload.metadata.name}/${container.name}`;
    const podSc = pod.securityContext ?? {};
    const sc = container.securityContext ?? {};
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot is not true`);
    const uid = sc.runAsUser ?? podSc.runAsUser;
    if (uid === 0 || uid !== imageUid) problems.push(`${where}: runAsUser ${uid}, the image's user is ${imageUid}`);
    if ((sc.seccompProfile ?? podSc.seccompProfile)?.type !== 'RuntimeDefault')
      problems.push(`${where}: seccomp profile is not RuntimeDefault`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
    if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
    if (sc.privileged === true) problems.push(`${where}: privileged`);
    if (!sc.capabilities?.drop?.includes('ALL')) problems.push(`${where}: capabilities do not drop ALL`);
    if ((sc.capabilities?.add ?? []).length > 0)
      problems.push(`${where}: capabilities added: ${sc.capabilities?.add?.join(', ')}`);
    if (pod.automountServiceAccountToken !== false)
      problems.push(`${where}: a service account token is mounted (crtrail never calls the API)`);
  }
  return problems;
}

/** The worker's sizing rule (README "Memory and event loop"); its inputs are the webhook's job bound and the measured factor. */
/** RSS beyond V8's old space: 3 × 16 MiB semi-spaces + ~200 MiB native and off-heap (see the Deployments' comments). */
export const NON_HEAP_MIB = 48 + 200;

/**
 * Memory: each crtrail container sets its heap (NODE_OPTIONS --max-old-space-size) and a limit that
 * holds it plus what is not heap; the worker's heap holds its sizing rule for the concurrency it runs.
 */
export function checkMemory(
  render: K8sObject[],
  defaults: { CRTRAIL_WORKER_CONCURRENCY: number; CRTRAIL_WORKER_HEAP_MB: number },
): string[] {
  const problems: string[] = [];
  for (const { workload, namespace, container, role } of crtrailPods(render)) {
    const where = `${workload.metadata.name}/${container.name}`;
    const env = effectiveEnv(render, namespace, container);
    const heap = Number(/--max-old-space-size=(\d+)/.exec(env.get('NODE_OPTIONS') ?? '')?.[1] ?? NaN);
    const limit = container.resources?.limits?.memory;
    const request = container.resources?.requests?.memory;
    if (!Number.isFinite(heap)) problems.push(`${where}: no heap limit (NODE_OPTIONS=--max-old-space-size=…)`);
    if (!limit) problems.push(`${where}: no memory limit`);
    else if (mebibytes(limit) < heap + NON_HEAP_MIB)
      problems.push(`${where}: memory limit ${limit} < heap ${heap} MiB + ${NON_HEAP_MIB} MiB not heap`);
    if (!request) problems.push(`${where}: no memory request`);
    else if (limit && mebibytes(request) > mebibytes(limit))
      problems.push(`${where}: memory request ${request} above the limit ${limit}`);
    if (role !== 'worker') continue;
    const heapMb = Number(env.get('CRTRAIL_WORKER_HEAP_MB') ?? defaults.CRTRAIL_WORKER_HEAP_MB);
    if (heapMb !== heap) problems.push(`${where}: CRTRAIL_WORKER_HEAP_MB=${heapMb} but NODE_OPTIONS gives ${heap}`);
    const concurrency = Number(env.get('CRTRAIL_WORKER_CONCURRENCY') ?? defaults.CRTRAIL_WORKER_CONCURRENCY);
    const need = workerHeapNeedMb(concurrency);
    if (need > heap)
      problems.push(
        `${where}: ${concurrency} held jobs need a heap of ${need} MB by the sizing rule, more than ${heap}`,
      );
  }
  return problems;
}

function policiesFor(render: K8sObject[], p: CrtrailPod): (INetworkPolicy & K8sObject)[] {
  return ofKind<INetworkPolicy>(render, 'NetworkPolicy').filter(
    (o) => o.metadata.namespace === p.namespace && matchesSelector(o.spec?.podSelector, p.labels),
  );
}

function urlPort(url: string | undefined, fallback: number): number {
  if (!url) return fallback;
  const u = new URL(url);
  return u.port
    ? Number(u.port)
    : (({ 'redis:': 6379, 'rediss:': 6379, 'http:': 80, 'https:': 443 } as Record<string, number>)[u.protocol] ??
        fallback);
}

/**
 * NetworkPolicy: a default deny covers every pod; webhook pods take ingress from ipBlocks (the control
 * plane) on their serving port only, except from the policies named in `extraIngress`; crtrail's
 * egress goes to Redis (+ Elasticsearch for the worker) and DNS, on exactly those ports.
 */
export function checkNetworkPolicies(render: K8sObject[], extraIngress: readonly string[] = []): string[] {
  const problems: string[] = [];
  const pods = crtrailPods(render);
  for (const ns of new Set(pods.map((p) => p.namespace))) {
    const deny = ofKind<INetworkPolicy>(render, 'NetworkPolicy').some((o) => {
      const spec = o.spec;
      return (
        o.metadata.namespace === ns &&
        spec !== undefined &&
        Object.keys(spec.podSelector).length === 0 &&
        (['Ingress', 'Egress'] as const).every((t) => spec.policyTypes?.includes(t)) &&
        !spec.ingress?.length &&
        !spec.egress?.length
      );
    });
    if (!deny) problems.push(`namespace ${ns}: no default-deny NetworkPolicy (podSelector {}, Ingress and Egress)`);
  }
  for (const p of pods) {
    const where = `${p.workload.metadata.name}`;
    const policies = policiesFor(render, p);
    const env = effectiveEnv(render, p.namespace, p.container);
    if (p.role === 'webhook') {
      const ingress = policies
        .filter((o) => !extraIngress.includes(o.metadata.name))
        .flatMap((o) => o.spec?.ingress ?? []);
      if (!policies.some((o) => o.spec?.policyTypes?.includes('Ingress')))
        problems.push(`${where}: no NetworkPolicy selecting the webhook pods restricts ingress`);
      if (ingress.length === 0) problems.push(`${where}: no ingress rule admits the apiservers`);
      for (const rule of ingress) {
        if (!rule.from?.length || rule.from.some((peer) => !peer.ipBlock))
          problems.push(`${where}: an ingress rule admits more than ipBlocks (the control plane's addresses)`);
        const ports = (rule.ports ?? []).map((port) => containerPort(p.container, port.port));
        if (ports.length === 0 || ports.some((port) => port === undefined))
          problems.push(`${where}: an ingress rule's ports are not the webhook's container ports`);
      }
    }
    const expected = new Set([
      urlPort(env.get('CRTRAIL_REDIS_URL'), 6379),
      53,
      ...(p.role === 'webhook' ? [] : [urlPort(env.get('CRTRAIL_ES_URL'), 9200)]),
    ]);
    if (!policies.some((o) => o.spec?.policyTypes?.includes('Egress')))
      problems.push(`${where}: no NetworkPolicy selecting these pods restricts egress`);
    const egressPorts = new Set<number>();
    for (const rule of policies.flatMap((o) => o.spec?.egress ?? [])) {
      if (!rule.to?.length || !rule.ports?.length)
        problems.push(`${where}: an egress rule allows any destination or any port`);
      for (const port of rule.ports ?? []) egressPorts.add(Number(port.port));
    }
    const got = [...egressPorts].sort().join(',');
    const want = [...expected].sort().join(',');
    if (got !== want)
      problems.push(
        `${where}: egress ports ${got}, expected ${want} (Redis${p.role === 'webhook' ? '' : ', Elasticsearch'}, DNS)`,
      );
  }
  return problems;
}

/** The webhook runs as ≥ 2 replicas under a PodDisruptionBudget that keeps one; the commands are `up --webhook-only` / `--worker-only`. */
export function checkAvailability(render: K8sObject[]): string[] {
  const problems: string[] = [];
  const pods = crtrailPods(render);
  for (const role of ['webhook', 'worker'] as const) {
    const of = pods.filter((p) => p.role === role);
    if (of.length !== 1) problems.push(`${of.length} ${role} Deployments (expected 1)`);
    for (const p of of)
      if (p.args.join(' ') !== `up --${role}-only`)
        problems.push(`${p.workload.metadata.name}: args ${p.args.join(' ')}`);
  }
  for (const p of pods.filter((x) => x.role === 'webhook')) {
    const replicas = as<IDeployment>(p.workload).spec?.replicas ?? 1;
    if (replicas < 2) problems.push(`${p.workload.metadata.name}: ${replicas} replica(s), at least 2 wanted`);
    const pdb = ofKind<IPodDisruptionBudget>(render, 'PodDisruptionBudget').find(
      (o) => o.metadata.namespace === p.namespace && matchesSelector(o.spec?.selector, p.labels),
    );
    const spec = pdb?.spec;
    const keeps =
      typeof spec?.minAvailable === 'number'
        ? spec.minAvailable >= 1
        : typeof spec?.maxUnavailable === 'number' && spec.maxUnavailable <= replicas - 1;
    if (!spec) problems.push(`${p.workload.metadata.name}: no PodDisruptionBudget selects its pods`);
    else if (!keeps) problems.push(`${p.workload.metadata.name}: the PodDisruptionBudget may evict every replica`);
  }
  return problems;
}

/** Every namespaced object is in `namespace`, and that Namespace is part of the render. */
export function checkNamespaces(render: K8sObject[], namespace: string): string[] {
  const problems = render
    .filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== namespace)
    .map((o) => `${o.kind} ${o.metadata.name}: namespace ${o.metadata.namespace ?? '(none)'}`);
  if (!render.some((o) => o.kind === 'Namespace' && o.metadata.name === namespace))
    problems.push(`no Namespace ${namespace}`);
  return problems;
}

/** Each ServiceMonitor selects a Service with the port it scrapes, and a NetworkPolicy lets the scrape in. */
export function checkServiceMonitors(render: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const sm of ofKind<IServiceMonitor>(render, 'ServiceMonitor')) {
    const services = ofKind<IService>(render, 'Service').filter(
      (o) =>
        o.metadata.namespace === sm.metadata.namespace && matchesSelector(sm.spec.selector, o.metadata.labels ?? {}),
    );
    if (services.length === 0) problems.push(`ServiceMonitor ${sm.metadata.name}: selects no Service`);
    for (const ep of sm.spec.endpoints) {
      for (const svc of services) {
        const port = (svc.spec?.ports ?? []).find((sp) => sp.name === ep.port);
        if (!port) {
          problems.push(`ServiceMonitor ${sm.metadata.name}: Service ${svc.metadata.name} has no port ${ep.port}`);
          continue;
        }
        for (const p of crtrailPods(render).filter(
          (x) => x.namespace === svc.metadata.namespace && matchesSelector(svc.spec?.selector, x.labels),
        )) {
          const number = containerPort(p.container, port.targetPort);
          const admitted = policiesFor(render, p).some((o) =>
            (o.spec?.ingress ?? []).some(
              (rule) =>
                rule.from?.some((peer) => !peer.ipBlock) &&
                (rule.ports ?? []).some((rp) => containerPort(p.container, rp.port) === number),
            ),
          );
          if (!admitted)
            problems.push(
              `ServiceMonitor ${sm.metadata.name}: no NetworkPolicy admits Prometheus to ${p.workload.metadata.name} port ${port.targetPort}`,
            );
        }
      }
    }
  }
  return problems;
}

/** Certificates: issued by an Issuer in the render, and the webhook's names its Service as the apiserver dials it. */
export function checkCertificates(render: K8sObject[]): string[] {
  const problems: string[] = [];
  const certificates = ofKind<ICertificate>(render, 'Certificate');
  for (const cert of certificates) {
    const ref = cert.spec?.issuerRef;
    if (
      ref?.kind !== 'ClusterIssuer' &&
      !find(render, ref?.kind ?? 'Issuer', ref?.name ?? '', cert.metadata.namespace ?? 'default')
    )
      problems.push(`Certificate ${cert.metadata.name}: Issuer ${ref?.name} is not in the render`);
  }
  for (const p of crtrailPods(render).filter((x) => x.role === 'webhook')) {
    const certFile = effectiveEnv(render, p.namespace, p.container).get('CRTRAIL_TLS_CERT');
    const tlsVolume = (p.pod.volumes ?? []).find((v) =>
      (p.container.volumeMounts ?? []).some((m) => m.name === v.name && certFile?.startsWith(`${m.mountPath}/`)),
    );
    const cert = certificates.find((o) => o.spec?.secretName === tlsVolume?.secret?.secretName);
    if (!cert) {
      if (certificates.length > 0) problems.push(`${p.workload.metadata.name}: no Certificate writes its TLS Secret`);
      continue;
    }
    for (const svc of ofKind<IService>(render, 'Service').filter(
      (o) => matchesSelector(o.spec?.selector, p.labels) && o.spec?.clusterIP !== 'None',
    )) {
      const name = `${svc.metadata.name}.${svc.metadata.namespace}.svc`;
      if (!(cert.spec?.dnsNames ?? []).includes(name))
        problems.push(`Certificate ${cert.metadata.name}: no dnsName ${name}`);
    }
  }
  return problems;
}
