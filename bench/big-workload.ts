/**
 * The big-batch case of `npm run bench`: EventList batches of ~20 MB each (one POST each), as an
 * apiserver sends when a burst of large custom resources is written: RequestResponse-level writes of
 * ~50 KB objects (an Argo CD Application-like spec, a status listing the resources it manages and an
 * embedded values document), controllers' status updates (whole object in both bodies) and humans'
 * spec patches, plus a fifth of the events dropped by the filter (Metadata-level reads and built-in
 * writes). Deterministic, like bench/workload.ts; one cluster per batch (one apiserver each).
 */
import { prng } from '../test/fixtures/lifecycle.js';
import { eventHeader, type Workload } from './workload.js';

const GROUP = 'argoproj.io';
const VERSION = 'v1alpha1';
const RESOURCE = 'applications';
/** Objects per batch: each is written several times in its batch, so the worker diffs against the previous write. */
const OBJECTS = 60;

interface BigObject {
  name: string;
  ns: string;
  uid: string;
  rv: number;
  spec: Record<string, unknown>;
  resources: Array<Record<string, string>>;
}

/**
 * A 30–70 KB object (~50 KB on average): spec fields, a managed-resource list and an embedded values
 * document. `kb` is a nominal size the parts are cut from; their JSON comes out at about 2/3 of it.
 */
function bigObject(rand: () => number, cluster: string, i: number): BigObject {
  const kb = 45 + Math.floor(rand() * 60);
  const spec: Record<string, unknown> = {};
  for (let g = 0; g < Math.ceil((kb * 0.4 * 1024) / 450); g++) {
    const group: Record<string, unknown> = {};
    for (let f = 0; f < 10; f++)
      group[`setting${f}`] =
        f % 3 === 0 ? Math.floor(rand() * 1000) : `value-${g}-${f}-${Math.floor(rand() * 1e9).toString(36)}`;
    spec[`section${g}`] = group;
  }
  const lines = Array.from(
    { length: Math.ceil((kb * 0.2 * 1024) / 40) },
    (_, l) => `key${l}: ${Math.floor(rand() * 1e12).toString(36)}-${l}`,
  );
  spec.source = { repoURL: `https://git.example.com/${cluster}/app-${i}.git`, helm: { values: lines.join('\n') } };
  const resources = Array.from({ length: Math.ceil((kb * 0.4 * 1024) / 150) }, (_, r) => ({
    group: r % 2 ? 'apps' : '',
    kind: r % 2 ? 'Deployment' : 'Service',
    namespace: `team-${i % 4}`,
    name: `component-${i}-${r}`,
    status: 'Synced',
    health: 'Healthy',
  }));
  return { name: `app-${i}`, ns: `team-${i % 4}`, uid: `${cluster}-app-${i}`, rv: 1000, spec, resources };
}

/** `count` batches of about `mb` MiB each (clusters big-1…big-N). */
export function generateBigBatches(count: number, mb: number, seed = 20261202): Workload {
  const rand = prng(seed);
  const t0 = Date.UTC(2026, 11, 2, 12, 0, 0);
  const out: Workload = { bodies: [], events: 0, crWrites: 0 };
  let n = 0;
  for (let b = 0; b < count; b++) {
    const cluster = `big-${b + 1}`;
    const objects = Array.from({ length: OBJECTS }, (_, i) => bigObject(rand, cluster, i));
    const items: string[] = [];
    let bytes = 0;
    let crWrites = 0;
    while (bytes < mb * 1024 * 1024) {
      n++;
      const common = { ...eventHeader(`big-${seed}`, n, t0), responseStatus: { metadata: {}, code: 200 } };
      let event: unknown;
      if (rand() < 0.2) {
        const write = rand() < 0.3;
        event = {
          level: 'Metadata',
          ...common,
          requestURI: `/api/v1/namespaces/team-${n % 4}/configmaps/cm-${n % 50}`,
          verb: write ? 'update' : 'get',
          user: {
            username: 'system:serviceaccount:argocd:argocd-application-controller',
            groups: ['system:serviceaccounts'],
          },
          userAgent: 'argocd-application-controller/v2.10.0',
          objectRef: { resource: 'configmaps', namespace: `team-${n % 4}`, name: `cm-${n % 50}`, apiVersion: 'v1' },
        };
      } else {
        const o = objects[Math.floor(rand() * objects.length)]!;
        const controller = rand() < 0.5;
        const prevRv = o.rv;
        o.rv += 1;
        if (controller) {
          for (let k = 0; k < 3; k++) {
            const r = o.resources[Math.floor(rand() * o.resources.length)]!;
            r.health = rand() < 0.7 ? 'Healthy' : 'Progressing';
            r.status = rand() < 0.8 ? 'Synced' : 'OutOfSync';
          }
        } else {
          const section = `section${Math.floor(rand() * (Object.keys(o.spec).length - 1))}`;
          (o.spec[section] as Record<string, unknown>).setting1 = `edited-${n}`;
        }
        const metadata = {
          name: o.name,
          namespace: o.ns,
          uid: o.uid,
          resourceVersion: String(o.rv),
          generation: o.rv,
          labels: { 'app.kubernetes.io/instance': o.name },
        };
        const object = {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'Application',
          metadata,
          spec: o.spec,
          status: { observedGeneration: o.rv, sync: { status: 'Synced' }, resources: o.resources },
        };
        event = {
          level: 'RequestResponse',
          ...common,
          requestURI: `/apis/${GROUP}/${VERSION}/namespaces/${o.ns}/${RESOURCE}/${o.name}${controller ? '/status' : ''}`,
          verb: controller ? 'update' : 'patch',
          user: controller
            ? {
                username: 'system:serviceaccount:argocd:argocd-application-controller',
                groups: ['system:serviceaccounts'],
              }
            : { username: 'alice@example.com', groups: ['admins'] },
          userAgent: controller
            ? 'argocd-application-controller/v2.10.0'
            : 'kubectl/v1.29.3 (linux/amd64) kubernetes/6813625',
          objectRef: {
            resource: RESOURCE,
            namespace: o.ns,
            name: o.name,
            apiGroup: GROUP,
            apiVersion: VERSION,
            ...(controller ? { subresource: 'status', uid: o.uid, resourceVersion: String(prevRv) } : {}),
          },
          requestObject: controller
            ? { ...object, metadata: { ...metadata, resourceVersion: String(prevRv) } }
            : { spec: { section0: o.spec.section0 as object } },
          responseObject: object,
        };
        crWrites++;
      }
      const s = JSON.stringify(event);
      items.push(s);
      bytes += s.length + 1;
    }
    out.bodies.push({
      cluster,
      body: `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${items.join(',')}]}`,
      events: items.length,
      crWrites,
    });
    out.events += items.length;
    out.crWrites += crWrites;
  }
  return out;
}
