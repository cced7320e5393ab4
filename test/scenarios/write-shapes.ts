/**
 * Realistic write shapes of custom resources, derived mechanically from a sequence of true stored
 * states. A `Story` holds what etcd holds (the object, its resourceVersion); every write moves it
 * and emits the audit event a kube-apiserver (v1.29+, RequestResponse level unless said) would
 * send, together with the record crtrail must make of it, computed from the states:
 *
 * - a write seen with bodies after a known state: ops = diff(previous state, next state);
 * - a create (also PATCH answered 201: server-side apply creating): every leaf an `add`;
 * - a failed write: the state does not move; the attempt against the stored state, or nothing;
 * - a write logged without bodies: no ops, and the next write is recorded across a gap.
 *
 * Apiserver facts used (k8s.io/apiserver audit + registry): a patch's requestObject is the patch
 * document; `/scale` request and response are `autoscaling/v1` Scale objects whose metadata carry
 * the CR's name, uid and resourceVersion; a DELETE held by finalizers answers the object with
 * `deletionTimestamp` (and `deletionGracePeriodSeconds: 0`); a DELETE that removed the object
 * may answer a Status with `details.uid`; a 403 logs no request body; objectRef.apiVersion is the
 * version of the URL the write went through.
 */
import { applyJsonPatch, applyMergePatch, DEFAULT_IGNORE_PATHS, diffValues, leaves, type Op } from '@crtrail/diff';
import type { LooseJson } from '../helpers/loose.js';

type Obj = LooseJson;

export interface Expected {
  action: string;
  outcome: 'success' | 'failure';
  kind: string;
  baseline: 'known' | 'unknown' | 'none';
  ops: Op[];
  gap: boolean;
  uid?: string;
  version?: string;
}

export interface Written {
  event: Obj;
  expected: Expected;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const IGNORE = [...DEFAULT_IGNORE_PATHS, '/apiVersion'];
const stateDiff = (a: unknown, b: unknown): Op[] => diffValues(a, b, IGNORE);

export interface StoryOptions {
  group: string;
  resource: string;
  kind: string;
  namespace: string;
  name: string;
  /** Served versions: the first is the storage version. */
  versions?: string[];
  /** First auditID number (scenarios in one cluster must not share auditIDs). */
  seq?: number;
  start?: number;
}

interface Actor {
  user: string;
  agent: string;
  groups?: string[];
}

export const KUBECTL: Actor = {
  user: 'alice@example.com',
  agent: 'kubectl/v1.30.2 (linux/amd64) kubernetes/39683505',
  groups: ['system:authenticated'],
};
export const K9S: Actor = {
  user: 'bob@example.com',
  agent: 'k9s/v0.32.5 (linux/amd64) kubernetes/$Format',
  groups: ['system:authenticated'],
};
export const FLUX: Actor = {
  user: 'system:serviceaccount:flux-system:kustomize-controller',
  agent: 'kustomize-controller/v1.3.0 (linux/amd64) kubernetes/$Format',
};
export const CERT_MANAGER: Actor = {
  user: 'system:serviceaccount:cert-manager:cert-manager',
  agent: 'cert-manager-certificates-trigger/v1.15.1 (linux/amd64) cert-manager/1a2b3c',
};
export const OPERATOR: Actor = {
  user: 'system:serviceaccount:operators:widget-operator',
  agent: 'manager/v0.0.0 (linux/amd64) kubernetes/$Format',
};
export const MALLORY: Actor = {
  user: 'mallory',
  agent: 'kubectl/v1.30.2 (linux/amd64) kubernetes/39683505',
  groups: ['system:authenticated'],
};

/** One custom resource's true history, and the events that told it. */
export class Story {
  readonly out: Written[] = [];
  private state: Obj | undefined;
  private rv = 100;
  private n: number;
  private t: number;
  private incarnation = 0;
  /** The write before was logged without bodies: the next one is recorded across a gap. */
  private gap = false;
  /** The last state crtrail saw (a write logged without bodies moves the true state, not this). */
  private seen: Obj | undefined;
  /** The served version the last seen state came in (a delete lists the removed fields from it). */
  private seenVersion: string | undefined;

  constructor(readonly o: StoryOptions) {
    this.n = o.seq ?? 1;
    this.t = o.start ?? Date.UTC(2026, 10, 30, 12, 0, 0);
  }

  get current(): Obj | undefined {
    return this.state ? clone(this.state) : undefined;
  }

  private get versions(): string[] {
    return this.o.versions ?? ['v1'];
  }

  private uid(): string {
    return `00000000-0000-4000-a000-${String(this.incarnation).padStart(4, '0')}${this.o.name.length.toString(16).padStart(8, '0')}`;
  }

  private path(version: string, sub?: string): string {
    return `/apis/${this.o.group}/${version}/namespaces/${this.o.namespace}/${this.o.resource}/${this.o.name}${sub ? `/${sub}` : ''}`;
  }

  /** The object as a response in `version` (bodies come in the version of the request), managedFields included. */
  private served(state: Obj, version: string, manager: string, operation: 'Apply' | 'Update'): Obj {
    const out = clone(state);
    out.apiVersion = `${this.o.group}/${version}`;
    out.metadata.managedFields = [
      {
        manager,
        operation,
        apiVersion: out.apiVersion,
        time: '2026-11-30T12:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: {},
      },
    ];
    return out;
  }

  private event(
    verb: string,
    actor: Actor,
    code: number,
    parts: {
      version?: string;
      sub?: string;
      query?: string;
      request?: unknown;
      response?: unknown;
      level?: string;
      uid?: string;
      annotations?: Record<string, string>;
    },
  ): Obj {
    const version = parts.version ?? this.versions[0]!;
    const received = new Date(this.t).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    this.t += 700;
    const done = new Date(this.t).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    this.t += 300;
    const auditID = `5c3e0000-0000-4000-8000-${String(this.n++).padStart(12, '0')}`;
    return {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: parts.level ?? 'RequestResponse',
      auditID,
      stage: 'ResponseComplete',
      requestURI: `${this.path(version, parts.sub)}${parts.query ? `?${parts.query}` : ''}`,
      verb,
      user: { username: actor.user, groups: actor.groups ?? ['system:serviceaccounts', 'system:authenticated'] },
      sourceIPs: ['10.0.0.7'],
      userAgent: actor.agent,
      objectRef: {
        resource: this.o.resource,
        namespace: this.o.namespace,
        name: this.o.name,
        apiGroup: this.o.group,
        apiVersion: version,
        ...(parts.uid ? { uid: parts.uid } : {}),
        ...(parts.sub ? { subresource: parts.sub } : {}),
      },
      responseStatus: { metadata: {}, code },
      ...(parts.request !== undefined ? { requestObject: parts.request } : {}),
      ...(parts.response !== undefined ? { responseObject: parts.response } : {}),
      requestReceivedTimestamp: received,
      stageTimestamp: done,
      annotations: {
        'authorization.k8s.io/decision': code === 403 ? 'forbid' : 'allow',
        'authorization.k8s.io/reason': '',
        ...(parts.annotations ?? {}),
      },
    };
  }

  private status(code: number, reason: string, details: Obj = {}): Obj {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: reason,
      reason,
      details: { name: this.o.name, group: this.o.group, kind: this.o.resource, ...details },
      code,
    };
  }

  /** Moves the true state; the expected record of a write seen with bodies. */
  private commit(
    next: Obj,
    event: Obj,
    expected: Partial<Expected> & Pick<Expected, 'kind'>,
    opsOverride?: Op[],
  ): Written {
    const prev = this.state;
    next.metadata.resourceVersion = String(++this.rv);
    this.state = next;
    this.seen = clone(next);
    this.seenVersion = event.objectRef.apiVersion;
    const ops = opsOverride ?? (prev ? stateDiff(prev, next) : leaves(next, 'add'));
    const w: Written = {
      event,
      expected: {
        action: event.verb,
        outcome: 'success',
        baseline: prev ? 'known' : 'none',
        ops,
        gap: false,
        uid: next.metadata.uid,
        version: event.objectRef.apiVersion,
        ...expected,
      },
    };
    this.out.push(w);
    return w;
  }

  private kindOf(ops: Op[]): string {
    const classes = new Set(
      ops.map((o) => {
        const top = o.path.split('/')[1];
        return top === 'status' ? 'status' : top === 'metadata' ? 'metadata' : 'spec';
      }),
    );
    return classes.size === 0 ? 'noop' : classes.size > 1 ? 'mixed' : [...classes][0]!;
  }

  /** After a gap: what the patch itself shows (its paths, the response's values, no old values). */
  private afterGap(w: Written, ops: Op[]): void {
    if (!this.gap) return;
    this.gap = false;
    w.expected.baseline = 'unknown';
    w.expected.gap = true;
    w.expected.ops = ops;
    w.expected.kind = this.kindOf(ops);
  }

  /** `kubectl apply --server-side` / Flux / Argo CD creating: PATCH answered 201. */
  ssaCreate(actor: Actor, config: { spec: Obj; labels?: Obj }, defaults: Obj = {}): Written {
    this.incarnation++;
    const uid = this.uid();
    const request = {
      apiVersion: `${this.o.group}/${this.versions[0]}`,
      kind: this.o.kind,
      metadata: { name: this.o.name, namespace: this.o.namespace, ...(config.labels ? { labels: config.labels } : {}) },
      spec: config.spec,
    };
    const next: Obj = {
      apiVersion: request.apiVersion,
      kind: this.o.kind,
      metadata: { ...clone(request.metadata), uid, generation: 1, creationTimestamp: '2026-11-30T12:00:00Z' },
      spec: { ...clone(config.spec), ...defaults },
    };
    const manager = actor.agent.split('/')[0]!;
    const response = () => this.served(next, this.versions[0]!, manager, 'Apply');
    const event = this.event('patch', actor, 201, { query: `fieldManager=${manager}&force=true`, request });
    this.state = undefined;
    this.gap = false;
    const w = this.commit(next, event, { kind: 'create', baseline: 'none' }, leaves(next, 'add'));
    event.responseObject = response();
    return w;
  }

  /** Plain create (POST). */
  create(actor: Actor, body: { spec: Obj; finalizers?: string[] }): Written {
    this.incarnation++;
    const uid = this.uid();
    const request = {
      apiVersion: `${this.o.group}/${this.versions[0]}`,
      kind: this.o.kind,
      metadata: {
        name: this.o.name,
        namespace: this.o.namespace,
        ...(body.finalizers ? { finalizers: body.finalizers } : {}),
      },
      spec: body.spec,
    };
    const next: Obj = {
      ...clone(request),
      metadata: { ...clone(request.metadata), uid, generation: 1, creationTimestamp: '2026-11-30T12:00:00Z' },
    };
    const event = this.event('create', actor, 201, { request });
    this.state = undefined;
    this.gap = false;
    const w = this.commit(next, event, { kind: 'create', baseline: 'none' }, leaves(next, 'add'));
    event.responseObject = this.served(next, this.versions[0]!, actor.agent.split('/')[0]!, 'Update');
    event.objectRef.uid = undefined;
    delete event.objectRef.uid;
    return w;
  }

  /** JSON merge patch (kubectl patch --type merge, k9s edits, controllers). */
  mergePatch(actor: Actor, doc: Obj, opts: { version?: string; sub?: 'status' } = {}): Written {
    const prev = this.state!;
    const next = applyMergePatch(prev, doc) as Obj;
    if (opts.sub === 'status')
      for (const k of Object.keys(next)) if (k !== 'status' && k !== 'metadata') next[k] = clone(prev[k]);
    next.apiVersion = prev.apiVersion;
    const version = opts.version ?? this.versions[0]!;
    const event = this.event('patch', actor, 200, { version, request: doc, ...(opts.sub ? { sub: opts.sub } : {}) });
    const w = this.commit(next, event, { kind: 'spec' });
    w.expected.kind = this.kindOf(w.expected.ops);
    event.responseObject = this.served(next, version, actor.agent.split('/')[0]!, 'Update');
    this.afterGap(w, mergeShown(doc, event.responseObject, opts.sub));
    return w;
  }

  /** RFC 6902 JSON Patch (kubectl patch --type json, cert-manager, operators). */
  jsonPatch(actor: Actor, ops: Obj[], shownIfGap?: Op[]): Written {
    const prev = this.state!;
    const next = applyJsonPatch(prev, ops) as Obj;
    const event = this.event('patch', actor, 200, { request: ops });
    const w = this.commit(next, event, { kind: 'spec' });
    w.expected.kind = this.kindOf(w.expected.ops);
    event.responseObject = this.served(next, this.versions[0]!, actor.agent.split('/')[0]!, 'Update');
    if (this.gap) this.afterGap(w, shownIfGap ?? jsonShown(ops, event.responseObject));
    return w;
  }

  /** PUT of the whole object (controllers, `kubectl replace`, k9s edit), optionally through the status subresource or another served version. */
  update(actor: Actor, change: (o: Obj) => void, opts: { version?: string; sub?: 'status' } = {}): Written {
    const prev = this.state!;
    const sent = clone(prev);
    change(sent);
    const next = clone(sent);
    if (opts.sub === 'status')
      for (const k of Object.keys(next)) if (k !== 'status' && k !== 'metadata') next[k] = clone(prev[k]);
    if (opts.sub !== 'status' && JSON.stringify(sent.spec) !== JSON.stringify(prev.spec))
      next.metadata.generation = (prev.metadata.generation ?? 1) + 1;
    const version = opts.version ?? this.versions[0]!;
    sent.apiVersion = `${this.o.group}/${version}`;
    const event = this.event('update', actor, 200, {
      version,
      request: sent,
      uid: prev.metadata.uid,
      ...(opts.sub ? { sub: opts.sub } : {}),
    });
    const prior = this.gap ? undefined : prev;
    const seenBefore = this.seen;
    const w = this.commit(next, event, { kind: 'spec' });
    w.expected.kind = this.kindOf(w.expected.ops);
    event.responseObject = this.served(next, version, actor.agent.split('/')[0]!, 'Update');
    if (this.gap && prior === undefined) {
      // A full body after a gap: against the last state seen, flagged.
      this.gap = false;
      w.expected.ops = stateDiff(seenBefore, next).filter(
        (o) => opts.sub !== 'status' || o.path === '/status' || o.path.startsWith('/status/'),
      );
      w.expected.kind = this.kindOf(w.expected.ops);
      w.expected.baseline = 'unknown';
      w.expected.gap = true;
    }
    return w;
  }

  /** `kubectl scale` / HPA: PUT of an autoscaling/v1 Scale to the scale subresource. */
  scale(actor: Actor, replicas: number): Written {
    const prev = this.state!;
    const next = clone(prev);
    next.spec.replicas = replicas;
    const scaleOf = (o: Obj, rv?: string): Obj => ({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: this.o.name,
        namespace: this.o.namespace,
        uid: o.metadata.uid,
        resourceVersion: rv ?? o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: replicas === 0 ? {} : { replicas },
      status: { replicas: o.status?.replicas ?? 0, selector: `app=${this.o.name}` },
    });
    const event = this.event('update', actor, 200, { sub: 'scale', request: scaleOf(prev), uid: prev.metadata.uid });
    const gap = this.gap;
    const seen = this.seen;
    const seenVersion = this.seenVersion;
    const w = this.commit(next, event, { kind: 'spec' });
    w.expected.kind = this.kindOf(w.expected.ops);
    event.responseObject = scaleOf(next, next.metadata.resourceVersion);
    // A Scale is no body of the object: the last one seen stays the one it was served in.
    this.seenVersion = seenVersion;
    if (gap) {
      // The Scale shows only the replicas: the object's state stays unknown past it.
      w.expected = {
        ...w.expected,
        baseline: 'unknown',
        gap: true,
        ops: [{ op: 'replace', path: '/spec/replicas', new: replicas }],
        kind: 'spec',
      };
      this.seen = seen;
      this.seenVersion = seenVersion;
    }
    return w;
  }

  /** DELETE held by finalizers: the object stays, with deletionTimestamp. */
  heldDelete(actor: Actor): Written {
    const prev = this.state!;
    const next = clone(prev);
    next.metadata.deletionTimestamp = '2026-11-30T13:00:00Z';
    next.metadata.deletionGracePeriodSeconds = 0;
    const event = this.event('delete', actor, 200, {
      request: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', propagationPolicy: 'Background' },
    });
    const seen = this.seen;
    const w = this.commit(next, event, { kind: 'metadata' });
    if (this.gap) {
      this.gap = false;
      w.expected = { ...w.expected, baseline: 'unknown', gap: true, ops: stateDiff(seen, next) };
    }
    w.expected.kind = this.kindOf(w.expected.ops);
    event.responseObject = this.served(next, this.versions[0]!, actor.agent.split('/')[0]!, 'Update');
    return w;
  }

  /** The controller removes the last finalizer (merge patch): the object ends. */
  removeFinalizers(actor: Actor): Written {
    const w = this.mergePatch(actor, { metadata: { finalizers: null } });
    w.expected.kind = 'delete';
    this.state = undefined;
    this.seen = undefined;
    return w;
  }

  /** DELETE of an object without finalizers, answered by a Status naming its uid. */
  deleteWithStatus(actor: Actor): Written {
    const prev = this.state!;
    const event = this.event('delete', actor, 200, {
      request: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' },
      response: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name: this.o.name, group: this.o.group, kind: this.o.resource, uid: prev.metadata.uid },
      },
    });
    const removed = {
      ...clone(this.seen ?? prev),
      apiVersion: `${this.o.group}/${this.seenVersion ?? this.versions[0]}`,
    };
    const w: Written = {
      event,
      expected: this.gap
        ? {
            action: 'delete',
            outcome: 'success',
            kind: 'delete',
            baseline: 'unknown',
            ops: [],
            gap: true,
            uid: prev.metadata.uid,
            version: event.objectRef.apiVersion,
          }
        : {
            action: 'delete',
            outcome: 'success',
            kind: 'delete',
            baseline: 'known',
            ops: leaves(removed, 'remove'),
            gap: false,
            uid: prev.metadata.uid,
            version: event.objectRef.apiVersion,
          },
    };
    this.gap = false;
    this.state = undefined;
    this.seen = undefined;
    this.out.push(w);
    return w;
  }

  /** A write denied by RBAC: no request body is logged, only a Status. */
  denied(actor: Actor, verb: 'patch' | 'update' | 'delete'): Written {
    const event = this.event(verb, actor, 403, { response: this.status(403, 'Forbidden') });
    const w: Written = {
      event,
      expected: { action: verb, outcome: 'failure', kind: 'noop', baseline: 'unknown', ops: [], gap: false },
    };
    this.out.push(w);
    return w;
  }

  /** A server-side apply refused with 409 Conflict: the attempt against the stored state. */
  applyConflict(actor: Actor, spec: Obj): Written {
    const prev = this.state!;
    const request = {
      apiVersion: prev.apiVersion,
      kind: this.o.kind,
      metadata: { name: this.o.name, namespace: this.o.namespace },
      spec,
    };
    const manager = actor.agent.split('/')[0]!;
    const event = this.event('patch', actor, 409, {
      query: `fieldManager=${manager}`,
      request,
      response: this.status(409, 'Conflict', {
        causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "kustomize-controller"', field: '.spec' }],
      }),
    });
    // Against the state stored before it, when crtrail saw that one; else what the document shows.
    const ops = this.gap
      ? mergeShown({ spec }, {}).map((o) => ({ ...o, path: o.path }))
      : stateDiff(this.seen, applyMergePatch(this.seen, request));
    const w: Written = {
      event,
      expected: {
        action: 'patch',
        outcome: 'failure',
        kind: this.kindOf(ops),
        baseline: this.gap ? 'unknown' : 'known',
        ops,
        gap: false,
      },
    };
    this.out.push(w);
    return w;
  }

  /** A JSON patch rejected by validation (422): the attempt resolved against the stored state. */
  rejectedJsonPatch(actor: Actor, ops: Obj[]): Written {
    const prev = this.state!;
    const event = this.event('patch', actor, 422, { request: ops, response: this.status(422, 'Invalid') });
    // After a gap the stored state is unknown: what the document shows (its values, no old ones).
    const want = this.gap
      ? ops.filter((o) => o.op === 'replace').map((o): Op => ({ op: 'replace', path: o.path, new: o.value }))
      : stateDiff(prev, applyJsonPatch(prev, ops));
    const w: Written = {
      event,
      expected: {
        action: 'patch',
        outcome: 'failure',
        kind: this.kindOf(want),
        baseline: this.gap ? 'unknown' : 'known',
        ops: want,
        gap: false,
      },
    };
    this.out.push(w);
    return w;
  }

  /**
   * A write logged without bodies (Metadata level, or truncated): the true state moves, unseen.
   * The record: who, when, verb, outcome; no ops; the next write is recorded across a gap.
   */
  unseen(actor: Actor, change: (o: Obj) => void, how: 'metadata' | 'truncated'): Written {
    const next = clone(this.state!);
    change(next);
    next.metadata.resourceVersion = String(++this.rv);
    this.state = next;
    const event = this.event(
      'patch',
      actor,
      200,
      how === 'metadata' ? { level: 'Metadata' } : { annotations: { 'audit.k8s.io/truncated': 'true' } },
    );
    const w: Written = {
      event,
      expected: { action: 'patch', outcome: 'success', kind: 'noop', baseline: 'unknown', ops: [], gap: false },
    };
    this.gap = true;
    this.out.push(w);
    return w;
  }
}

/** What a merge patch after a gap shows: its leaves, valued from the response, no old values. */
function mergeShown(doc: Obj, response: Obj, sub?: string): Op[] {
  const ops: Op[] = [];
  const visit = (patch: unknown, path: string, at: unknown): void => {
    if (path === '/metadata/managedFields') return;
    if (patch !== null && typeof patch === 'object' && !Array.isArray(patch) && Object.keys(patch).length > 0) {
      for (const k of Object.keys(patch).sort())
        visit((patch as Obj)[k], `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, (at as Obj | undefined)?.[k]);
      return;
    }
    if (patch === null) ops.push({ op: 'remove', path });
    else ops.push({ op: 'replace', path, new: at === undefined ? patch : at });
  };
  visit(doc, '', response);
  return sub === 'status' ? ops.filter((o) => o.path.startsWith('/status')) : ops;
}

/** What a JSON Patch after a gap shows: its locations resolved in the response, no old values. */
function jsonShown(ops: Obj[], response: Obj): Op[] {
  const get = (path: string): unknown =>
    path
      .slice(1)
      .split('/')
      .reduce<unknown>((n, k) => (n === undefined || n === null ? undefined : (n as Obj)[k]), response);
  const appends = new Map<string, number>();
  for (const o of ops)
    if (o.op === 'add' && String(o.path).endsWith('/-')) appends.set(o.path, (appends.get(o.path) ?? 0) + 1);
  const seen = new Map<string, number>();
  const out: Op[] = [];
  for (const o of ops) {
    if (o.op === 'test') continue;
    if (o.op === 'remove') {
      out.push({ op: 'remove', path: o.path });
      continue;
    }
    let path: string = o.path;
    let op: Op['op'] = 'replace';
    if (path.endsWith('/-')) {
      const list = get(path.slice(0, -2)) as unknown[];
      const k = seen.get(path) ?? 0;
      seen.set(path, k + 1);
      path = `${path.slice(0, -2)}/${list.length - appends.get(o.path)! + k}`;
      op = 'add';
    }
    out.push({ op, path, new: get(path) });
  }
  const last = new Map(out.map((x, i) => [x.path, i]));
  return out.filter((x, i) => last.get(x.path) === i);
}
