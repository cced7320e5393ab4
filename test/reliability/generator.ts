import { randomBytes, randomUUID } from 'node:crypto';
import type { LooseJson } from '../helpers/loose.js';

/**
 * Load for the fault suite: audit events as a kube-apiserver at RequestResponse level would send them
 * for writes to a custom resource, plus the read/built-in noise an apiserver sends alongside (which
 * crtrail must drop, and which therefore is not "expected"). Every event has its own auditID.
 */

export const GROUP = 'reliability.crtrail.dev';
export const VERSION = 'v1';
export const RESOURCE = 'widgets';
export const KIND = 'Widget';
export const NAMESPACE = 'rel';

type Obj = LooseJson;

export interface GeneratorOptions {
  /** Objects written round-robin: the first write of each is a create, later ones updates. */
  objects?: number;
  /** Size of the padding in each object's spec (bytes); request and response both carry it. */
  objectBytes?: number;
  /** Share (0..1) of noise events (reads, built-in resources) mixed in; never expected. */
  noise?: number;
  /** Name of the run, part of every object name (runs in one prefix do not collide). */
  run?: string;
}

export interface Generated {
  event: Obj;
  /** A custom-resource write: crtrail must store a record for it. */
  expected: boolean;
}

const UA = 'kubectl/v1.29.3 (linux/amd64) kubernetes/6813625';

/** A generator of distinct events; state (resourceVersions per object) lives in the closure. */
export function eventGenerator(options: GeneratorOptions = {}) {
  const objects = Math.max(1, options.objects ?? 50);
  const objectBytes = options.objectBytes ?? 1_500;
  const noise = options.noise ?? 0.1;
  const run = options.run ?? randomBytes(3).toString('hex');
  const written = new Map<number, { uid: string; rv: number; gen: number }>();
  let n = 0;
  let rv = 1_000;
  let clock = Date.UTC(2026, 10, 2, 9, 0, 0);
  // Deterministic-enough pseudo-random filler (not crypto: it only needs to be incompressible-ish text).
  const pad = (k: number): string =>
    randomBytes(Math.ceil(objectBytes * 0.75) + (k % 3))
      .toString('base64')
      .slice(0, objectBytes);

  const stamp = (): [string, string] => {
    clock += 7;
    const a = new Date(clock).toISOString().replace('Z', '000Z');
    const b = new Date(clock + 3).toISOString().replace('Z', '000Z');
    return [a, b];
  };

  function crWrite(): Obj {
    const k = n % objects;
    const name = `w-${run}-${k}`;
    const prev = written.get(k);
    const uid = prev?.uid ?? randomUUID();
    const verb = prev ? 'update' : 'create';
    rv += 1;
    const gen = (prev?.gen ?? 0) + 1;
    written.set(k, { uid, rv, gen });
    const [received, completed] = stamp();
    const spec = { replicas: (n % 7) + 1, revision: n, payload: pad(n) };
    const metadata = {
      name,
      namespace: NAMESPACE,
      uid,
      resourceVersion: String(rv),
      generation: gen,
      creationTimestamp: '2026-11-02T09:00:00Z',
      labels: { app: 'rel', run },
    };
    const object = { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata, spec };
    const request =
      verb === 'create'
        ? {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: KIND,
            metadata: { name, namespace: NAMESPACE, labels: metadata.labels },
            spec,
          }
        : { ...object, metadata: { ...metadata, resourceVersion: String(prev!.rv) } };
    const base = `/apis/${GROUP}/${VERSION}/namespaces/${NAMESPACE}/${RESOURCE}`;
    return {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'RequestResponse',
      auditID: randomUUID(),
      stage: 'ResponseComplete',
      requestURI: verb === 'create' ? base : `${base}/${name}`,
      verb,
      user: { username: 'alice@example.com', groups: ['system:authenticated', 'devs'] },
      sourceIPs: ['10.0.0.7'],
      userAgent: UA,
      objectRef: {
        resource: RESOURCE,
        namespace: NAMESPACE,
        name,
        apiGroup: GROUP,
        apiVersion: VERSION,
        ...(verb === 'update' ? { uid, resourceVersion: String(prev!.rv) } : {}),
      },
      responseStatus: { metadata: {}, code: verb === 'create' ? 201 : 200 },
      requestObject: request,
      responseObject: object,
      requestReceivedTimestamp: received,
      stageTimestamp: completed,
      annotations: {
        'authorization.k8s.io/decision': 'allow',
        'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "devs"',
      },
    };
  }

  function noiseEvent(): Obj {
    const [received, completed] = stamp();
    const read = n % 2 === 0;
    return {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: randomUUID(),
      stage: 'ResponseComplete',
      requestURI: read
        ? `/apis/${GROUP}/${VERSION}/namespaces/${NAMESPACE}/${RESOURCE}`
        : '/api/v1/namespaces/rel/configmaps/cm',
      verb: read ? 'list' : 'update',
      user: { username: 'system:serviceaccount:rel:reader', groups: ['system:serviceaccounts'] },
      sourceIPs: ['10.0.0.8'],
      userAgent: UA,
      objectRef: read
        ? { resource: RESOURCE, namespace: NAMESPACE, apiGroup: GROUP, apiVersion: VERSION }
        : { resource: 'configmaps', namespace: NAMESPACE, name: 'cm', apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 200 },
      requestReceivedTimestamp: received,
      stageTimestamp: completed,
    };
  }

  return {
    run,
    /** The next event, a custom-resource write or (with probability `noise`) noise. */
    next(): Generated {
      n++;
      // Deterministic spacing of the noise: every round(1/noise)-th event.
      const every = noise > 0 ? Math.max(2, Math.round(1 / noise)) : 0;
      if (every && n % every === 0) return { event: noiseEvent(), expected: false };
      return { event: crWrite(), expected: true };
    },
    /** `count` events. */
    batch(count: number): Generated[] {
      return Array.from({ length: count }, () => this.next());
    },
  };
}

export type EventGenerator = ReturnType<typeof eventGenerator>;

/** Makes a custom-resource write Elasticsearch refuses (a date field that is no date): a dead letter, never lost. */
export function unmappable(event: Obj): Obj {
  // The webhook types every field the shipped mapping types (a bad date is a 400 at the door), so the
  // refusal comes from an operator's stricter mapping (see STRICTER_MAPPING): a uid that is no number.
  return { ...event, impersonatedUser: { username: 'bob', uid: 'not-a-number' } };
}

/** A mapping an operator might add to the changes indices: under it, {@link unmappable} records are refused. */
export const STRICTER_MAPPING = {
  properties: {
    kubernetes: {
      properties: { audit: { properties: { impersonatedUser: { properties: { uid: { type: 'long' } } } } } },
    },
  },
} as const;

/** The annotation that makes the fault suite's worker (poison-worker.ts) throw on an event. */
export const POISON_ANNOTATION = 'reliability.crtrail.dev/poison';

/**
 * A poison event: a well-formed custom-resource write (it passes the webhook's schema) that makes
 * processing throw on every attempt — the suite's worker throws on {@link POISON_ANNOTATION}. It must
 * end as a dead letter of its own, its batch-mates stored.
 */
export function poison(event: Obj): Obj {
  return {
    ...event,
    annotations: { ...((event.annotations as Record<string, string> | undefined) ?? {}), [POISON_ANNOTATION]: 'true' },
  };
}
