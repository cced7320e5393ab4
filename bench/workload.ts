/**
 * A deterministic apiserver-like workload: EventList batches of 400 events, ~95 % Metadata-level
 * events on built-in resources and read verbs, ~5 % custom-resource writes at RequestResponse level
 * with realistic bodies (2–20 KB, a few hundred fields): controllers' status updates and humans'
 * spec patches, spread over several clusters with a few hot objects.
 */
import { prng } from '../test/fixtures/lifecycle.js';

export interface Workload {
  /** Serialized EventList bodies, as the apiserver POSTs them. */
  bodies: Array<{ cluster: string; body: string; events: number; crWrites: number }>;
  events: number;
  crWrites: number;
}

const CLUSTERS = ['prod-eu-1', 'prod-us-1', 'staging', 'dev'];
const BUILT_IN = [
  ['', 'pods'],
  ['', 'configmaps'],
  ['', 'services'],
  ['', 'endpoints'],
  ['apps', 'deployments'],
  ['apps', 'replicasets'],
  ['coordination.k8s.io', 'leases'],
  ['batch', 'jobs'],
  ['', 'nodes'],
] as const;
const READ_VERBS = ['get', 'list', 'watch'];
const CR_KINDS = [
  { group: 'argoproj.io', version: 'v1alpha1', resource: 'applications', kind: 'Application' },
  { group: 'cert-manager.io', version: 'v1', resource: 'certificates', kind: 'Certificate' },
  { group: 'serving.kserve.io', version: 'v1beta1', resource: 'inferenceservices', kind: 'InferenceService' },
  { group: 'postgresql.cnpg.io', version: 'v1', resource: 'clusters', kind: 'Cluster' },
];

const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

/** The fields every generated event shares: the n-th event of a run, 2 ms after the one before. */
export function eventHeader(label: string, n: number, t0: number) {
  const ts = t0 + n * 2;
  return {
    auditID: `${label}-${n}`,
    stage: 'ResponseComplete',
    sourceIPs: ['10.1.2.3'],
    requestReceivedTimestamp: iso(ts),
    stageTimestamp: iso(ts + 1),
  };
}

function body(rand: () => number, fields: number, seed: number): Record<string, unknown> {
  // A few hundred fields in nested groups, like a real CR spec (containers, env, volumes, rules…).
  const spec: Record<string, unknown> = {};
  for (let g = 0; g < Math.ceil(fields / 10); g++) {
    const group: Record<string, unknown> = {};
    for (let f = 0; f < 10; f++)
      group[`setting${f}`] =
        f % 3 === 0 ? Math.floor(rand() * 1000) : `value-${seed}-${g}-${f}-${Math.floor(rand() * 1e6).toString(36)}`;
    spec[`section${g}`] = group;
  }
  return spec;
}

export function generateWorkload(batches: number, seed = 20261124): Workload {
  const rand = prng(seed);
  const t0 = Date.UTC(2026, 10, 24, 12, 0, 0);
  const hot = CLUSTERS.flatMap((cluster) =>
    CR_KINDS.flatMap((k) =>
      Array.from({ length: 5 }, (_, i) => ({
        cluster,
        ...k,
        ns: `team-${i % 3}`,
        name: `${k.resource}-${i}`,
        uid: `${cluster}-${k.resource}-${i}`,
        rv: 1000,
        fields: 100 + Math.floor(rand() * 300),
        spec: undefined as Record<string, unknown> | undefined,
      })),
    ),
  );
  const out: Workload = { bodies: [], events: 0, crWrites: 0 };
  let n = 0;
  for (let b = 0; b < batches; b++) {
    const cluster = CLUSTERS[b % CLUSTERS.length]!;
    const items: unknown[] = [];
    let crWrites = 0;
    for (let i = 0; i < 400; i++) {
      n++;
      const ts = t0 + n * 2;
      const common = eventHeader(`bench-${seed}`, n, t0);
      if (rand() < 0.05) {
        const candidates = hot.filter((h) => h.cluster === cluster);
        const o = candidates[Math.floor(rand() * candidates.length)]!;
        o.spec ??= body(rand, o.fields, n);
        const controller = rand() < 0.6;
        const prevRv = o.rv;
        o.rv += 1 + Math.floor(rand() * 3);
        const status = {
          observedGeneration: o.rv,
          conditions: [{ type: 'Ready', status: rand() < 0.8 ? 'True' : 'False', lastTransitionTime: iso(ts) }],
        };
        if (!controller) {
          const section = `section${Math.floor(rand() * Math.ceil(o.fields / 10))}`;
          (o.spec[section] as Record<string, unknown>).setting1 = `edited-${n}`;
        }
        const object = {
          apiVersion: `${o.group}/${o.version}`,
          kind: o.kind,
          metadata: {
            name: o.name,
            namespace: o.ns,
            uid: o.uid,
            resourceVersion: String(o.rv),
            generation: o.rv,
            labels: { 'app.kubernetes.io/instance': o.name },
            managedFields: [{ manager: controller ? 'manager' : 'kubectl-edit', operation: 'Update', time: iso(ts) }],
          },
          spec: o.spec,
          status,
        };
        const uri = `/apis/${o.group}/${o.version}/namespaces/${o.ns}/${o.resource}/${o.name}${controller ? '/status' : ''}`;
        items.push({
          level: 'RequestResponse',
          ...common,
          requestURI: uri,
          verb: controller ? 'update' : 'patch',
          user: controller
            ? {
                username: `system:serviceaccount:operators:${o.resource}-controller`,
                groups: ['system:serviceaccounts'],
              }
            : { username: 'alice@example.com', groups: ['admins'] },
          userAgent: controller
            ? 'manager/v0.0.0 (linux/amd64) kubernetes/$Format'
            : 'kubectl/v1.29.3 (linux/amd64) kubernetes/6813625',
          objectRef: {
            resource: o.resource,
            namespace: o.ns,
            name: o.name,
            apiGroup: o.group,
            apiVersion: o.version,
            ...(controller ? { subresource: 'status', uid: o.uid, resourceVersion: String(prevRv) } : {}),
          },
          responseStatus: { metadata: {}, code: 200 },
          requestObject: controller
            ? { ...object, metadata: { ...object.metadata, resourceVersion: String(prevRv), managedFields: undefined } }
            : { spec: { section0: o.spec.section0 as object } },
          responseObject: object,
        });
        crWrites++;
      } else {
        const [group, resource] = BUILT_IN[Math.floor(rand() * BUILT_IN.length)]!;
        const verb = rand() < 0.85 ? READ_VERBS[Math.floor(rand() * 3)]! : 'update';
        items.push({
          level: 'Metadata',
          ...common,
          requestURI: `/api${group ? `s/${group}` : ''}/v1/namespaces/default/${resource}`,
          verb,
          user: {
            username: 'system:serviceaccount:kube-system:generic-controller',
            groups: ['system:serviceaccounts'],
          },
          userAgent: 'kube-controller-manager/v1.29.3 (linux/amd64) kubernetes/6813625',
          objectRef: { resource, namespace: 'default', apiGroup: group, apiVersion: 'v1' },
          responseStatus: { metadata: {}, code: 200 },
        });
      }
    }
    out.bodies.push({
      cluster,
      body: JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items }),
      events: items.length,
      crWrites,
    });
    out.events += items.length;
    out.crWrites += crWrites;
  }
  return out;
}
