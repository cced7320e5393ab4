import { createHash } from 'node:crypto';
import {
  rememberCanonical,
  isDryRun,
  isObject,
  listItems,
  recordIdOf,
  responseCode,
  responseKubeObject,
  type AuditEvent,
  type KubeObject,
  type ObjectKey,
} from '@crtrail/audit';
import { DEFAULT_IGNORE_PATHS, diffValues, escapeSegment, leaves, pathsOf, sanitize, toJsonPatch, unescapeSegment, type JsonPatchOp, type Op } from './ops.js';
import { applyJsonPatch, applyMergePatch } from './patch-apply.js';
import { classifyKind, type ChangeKind } from './kind.js';
import {
  baseOf,
  boundVersions,
  compareVersions,
  insertVersion,
  MAX_DEPENDENTS,
  orderKey,
  predecessorOf,
  successorOf,
  type Dependent,
  type History,
  type StoredFields,
  type Subject,
  type Version,
} from './history.js';

export type Baseline = 'known' | 'unknown' | 'none';
export type PatchType = 'json' | 'merge' | 'apply';

/** `crtrail.change` as the engine computes it. */
export interface ChangeFields {
  ops: Op[];
  paths: string[];
  patch: JsonPatchOp[];
  server_mutations: Op[];
  kind: ChangeKind;
  baseline: Baseline;
  dry_run: boolean;
  patch_type?: PatchType;
  /** sha256 (hex) of the RFC 8785 canonical JSON of the stored state after this write; absent when the write stored nothing. */
  state_hash?: string;
}

/** The fields of a record that depend on its predecessor: what a late event's repair rewrites. */
export type RepairFields = Pick<ChangeFields, 'ops' | 'paths' | 'patch' | 'kind' | 'baseline'> & { server_mutations?: Op[] };

/** One record to make: an event, and for deletecollection one item of its List. */
export interface Mutation {
  event: AuditEvent;
  object?: KubeObject | undefined;
  recordId: string;
  /** Opaque annotations kept with the write (see {@link Subject.meta}). */
  meta?: Record<string, unknown>;
}

/** A record to rewrite in place, with what the caller needs to re-enrich it. */
export interface Repair {
  recordId: string;
  change: RepairFields;
  /** The repaired write (its object, verb, meta). */
  subject: Subject;
  /** Its predecessor's stored state, now known. */
  previous?: KubeObject | undefined;
}

export interface EngineOptions {
  /** JSON pointers left out of diffs; {@link DEFAULT_IGNORE_PATHS} by default. */
  ignorePaths?: readonly string[];
}

export interface ApplyResult {
  history: History;
  record: ChangeFields;
  /** Records written earlier whose predecessor changed (a late event arrived after them): rewrite in place. */
  repairs: Repair[];
  /** Stored state before this write, when known (drift detection compares it with the new one). */
  previous?: KubeObject | undefined;
  /** The recordId was already applied: the record was recomputed identically and nothing moved. */
  duplicate: boolean;
}

type Role = 'write' | Dependent['role'];

/** CR create drops `.status` from the request: not a server mutation. */
const CREATE_REQUEST_IGNORE = ['/status'];

/**
 * Hashes by object: a version's state is hashed when its write is recorded and again as the next
 * write's `prev_state_hash`; both see the same (never mutated) object while it is in the history.
 */
const stateHashes = new WeakMap<object, string>();

/** sha256 (hex) of the RFC 8785 canonical JSON of a stored state: `state_hash`, the link between a record and the state it left. */
export function stateHash(object: KubeObject): string {
  let hash = stateHashes.get(object);
  if (hash === undefined) {
    // Its members' texts are remembered: the record's response body and the history entry reuse them.
    hash = createHash('sha256').update(rememberCanonical(object, true)).digest('hex');
    stateHashes.set(object, hash);
  }
  return hash;
}

function resourceVersionOf(o: unknown): string | undefined {
  const rv = isObject(o) && isObject(o.metadata) ? o.metadata.resourceVersion : undefined;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

/**
 * How a patch was sent; the audit event does not log the Content-Type, so it is inferred. A JSON
 * array is JSON Patch. An object is a server-side apply configuration when it names apiVersion and
 * kind (apply configurations must) and either the response's managedFields record an `Apply` by this
 * request's field manager, or the URI has `force` (accepted only for apply), or the response has no
 * managedFields at all (an audit policy with `omitManagedFields` strips them, so the stronger signal
 * is missing). Any other object is a JSON merge patch (strategic merge patch does not exist for CRs).
 */
export function patchTypeOf(event: AuditEvent, response: KubeObject | undefined): PatchType | undefined {
  if (event.verb !== 'patch') return undefined;
  if (Array.isArray(event.requestObject)) return 'json';
  if (!isObject(event.requestObject)) return undefined;
  const req = event.requestObject;
  if (typeof req.apiVersion !== 'string' || typeof req.kind !== 'string') return 'merge';
  const q = event.requestURI.indexOf('?');
  const query = new URLSearchParams(q >= 0 ? event.requestURI.slice(q + 1) : '');
  const manager = query.get('fieldManager');
  const entries = response?.metadata?.managedFields;
  if (!Array.isArray(entries) || query.has('force')) return 'apply';
  const applied = (entries as Array<{ manager?: string; operation?: string }>).some((e) => e.operation === 'Apply' && (manager === null || e.manager === manager));
  return applied ? 'apply' : 'merge';
}

function pointerGet(doc: unknown, pointer: string): unknown {
  let node: unknown = doc;
  for (const raw of pointer === '' ? [] : pointer.slice(1).split('/')) {
    const key = unescapeSegment(raw);
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isObject(node)) node = node[key];
    else return undefined;
  }
  return node;
}

const ignored = (path: string, ignore: readonly string[]): boolean => ignore.some((p) => path === p || path.startsWith(`${p}/`));

/**
 * Without a known previous state: the paths a patch document touches, with the values the response
 * gives them; old values are unknown and so absent (`replace` with only `new`, `remove` with neither).
 */
function patchDocOps(request: unknown, type: string | undefined, response: KubeObject | undefined, ignore: readonly string[]): Op[] {
  const ops: Op[] = [];
  if (type === 'json' && Array.isArray(request)) {
    const docOps = (request as unknown[]).filter(isObject) as Array<{ op?: unknown; path?: unknown; from?: unknown; value?: unknown }>;
    // `/list/-` appends: name the element by its index in the response (the k-th of m appends to
    // one array is at length - m + k), so the path is the same one a known-baseline diff would give.
    const appends = new Map<string, number>();
    for (const o of docOps) if (typeof o.path === 'string' && o.path.endsWith('/-')) appends.set(o.path, (appends.get(o.path) ?? 0) + 1);
    const seen = new Map<string, number>();
    const resolve = (path: string): string => {
      if (!path.endsWith('/-') || !response) return path;
      const list = pointerGet(response, path.slice(0, -2));
      if (!Array.isArray(list)) return path;
      const k = seen.get(path) ?? 0;
      seen.set(path, k + 1);
      return `${path.slice(0, -2)}/${list.length - (appends.get(path) ?? 1) + k}`;
    };
    const pointer = (p: unknown): p is string => typeof p === 'string' && (p === '' || p.startsWith('/'));
    for (const raw of docOps) {
      if (!pointer(raw.path) || raw.op === 'test') continue;
      if (raw.op === 'move' && pointer(raw.from) && !ignored(raw.from, ignore)) ops.push({ op: 'remove', path: raw.from });
      const path = resolve(raw.path);
      if (ignored(path, ignore)) continue;
      if (raw.op === 'remove') {
        ops.push({ op: 'remove', path });
        continue;
      }
      // The stored value when the response has it (the server may have mutated it), else what was sent.
      const stored = response ? pointerGet(response, path) : undefined;
      const value = stored !== undefined ? stored : raw.op === 'add' || raw.op === 'replace' ? raw.value : undefined;
      ops.push(value === undefined ? { op: 'replace', path } : { op: 'replace', path, new: value });
    }
    // Several ops of one document on one path: the last one is what happened.
    const last = new Map(ops.map((o, i) => [o.path, i]));
    return ops.filter((o, i) => last.get(o.path) === i);
  } else if ((type === 'merge' || type === 'apply') && isObject(request)) {
    const visit = (patch: unknown, path: string): void => {
      if (ignored(path, ignore)) return;
      if (isObject(patch) && Object.keys(patch).length > 0) {
        for (const k of Object.keys(patch).sort()) {
          // An apply configuration repeats the object's identity; those are not changes.
          if (type === 'apply' && ((path === '' && (k === 'apiVersion' || k === 'kind')) || (path === '/metadata' && (k === 'name' || k === 'namespace')))) continue;
          visit(patch[k], `${path}/${escapeSegment(k)}`);
        }
        return;
      }
      if (patch === null) {
        ops.push({ op: 'remove', path });
        return;
      }
      const value = response ? pointerGet(response, path) : patch;
      ops.push({ op: 'replace', path, new: value === undefined ? patch : value });
    };
    visit(request, '');
  }
  return ops;
}

/** For a patch: the patch applied to the previous state, compared with what was stored. */
function patchServerMutations(s: Subject, previous: Version | undefined, ignore: readonly string[]): Op[] {
  if (s.verb !== 'patch' || !previous || previous.deleted || (s.patchType !== 'json' && s.patchType !== 'merge')) return [];
  try {
    const expected = s.patchType === 'json' ? applyJsonPatch(previous.object, s.request as unknown[]) : applyMergePatch(previous.object, s.request);
    return diffValues(expected, s.object, ignore);
  } catch {
    // The patch does not apply to what we believe was stored: no honest expectation to compare with.
    return [];
  }
  // Server-side apply merges by field ownership, not RFC 7386: never compared (empty).
}

/**
 * The predecessor-dependent fields of one record. The single function used for first computations,
 * replays and repairs, which is what makes the final records independent of the delivery order.
 */
function computeFields(s: Subject, role: Role, removal: boolean, pred: Version | undefined, ignore: readonly string[]): RepairFields {
  const known = pred !== undefined && !pred.deleted;
  let ops: Op[];
  let baseline: Baseline;
  if ((role === 'write' || role === 'dry-run') && removal && (s.verb === 'delete' || s.verb === 'deletecollection')) {
    // The removed object is recorded field by field; from our state when we have it.
    ops = leaves(known ? pred.object : s.object, 'remove', ignore);
    baseline = known ? 'known' : 'unknown';
  } else if (known) {
    ops = diffValues(pred.object, s.object, ignore);
    baseline = 'known';
  } else if (s.verb === 'create') {
    ops = leaves(s.object, 'add', ignore);
    baseline = 'none';
  } else {
    ops = role === 'failed-update' ? [] : patchDocOps(s.request, s.patchType, s.object, ignore);
    baseline = 'unknown';
  }
  let kind = classifyKind(s.verb, s.subresource, ops, baseline);
  if (role === 'noop' && ops.length === 0) kind = 'noop';
  const fields: RepairFields = { ops, paths: pathsOf(ops), patch: toJsonPatch(ops), kind, baseline };
  if (s.verb === 'patch') fields.server_mutations = role === 'failed-update' ? [] : patchServerMutations(s, pred, ignore);
  return fields;
}

/** Create/update: the request (full object) against what was stored — independent of the predecessor. */
function requestServerMutations(event: AuditEvent, stored: KubeObject | undefined, ignore: readonly string[]): Op[] {
  if ((event.verb !== 'create' && event.verb !== 'update') || !stored || !isObject(event.requestObject)) return [];
  const extra = event.verb === 'create' ? CREATE_REQUEST_IGNORE : [];
  return diffValues(sanitize(event.requestObject as KubeObject), stored, [...ignore, ...extra]);
}

/** A write that removes the object: a delete not held by finalizers, or the last finalizer removed from an object being deleted. */
function isRemoval(verb: string, object: KubeObject): boolean {
  const finalizers = object.metadata?.finalizers ?? [];
  if (verb === 'delete' || verb === 'deletecollection') return finalizers.length === 0;
  return verb !== 'create' && Boolean(object.metadata?.deletionTimestamp) && finalizers.length === 0;
}

const byRv = (list: Version[], uid: string, rv: string): Version | undefined => list.find((v) => v.uid === uid && v.resourceVersion === rv && !v.deleted);

function addDependent(history: History, d: Dependent): History {
  const others = (history.dependents ?? []).filter((x) => x.recordId !== d.recordId);
  // Sorted like versions so that the stored history, too, is the same whatever the delivery order.
  const dependents = [...others, d].sort((a, b) => compareVersions({ ...a, deleted: false }, { ...b, deleted: false })).slice(-MAX_DEPENDENTS);
  return { ...history, dependents };
}

/**
 * Applies one mutation to an object's history and computes its record. Pure: the caller stores the
 * returned history (under a per-object lock). A record is a function of its event and its true
 * predecessor only, so once every event has arrived the records are the same whatever the delivery
 * order: a late event returns repairs for the records that were diffed against the wrong base.
 */
export function applyMutation(history: History | undefined, m: Mutation, options: EngineOptions = {}): ApplyResult {
  const ignore = options.ignorePaths ?? DEFAULT_IGNORE_PATHS;
  const h: History = history ?? { versions: [] };
  const event = m.event;
  const rawObject = m.object ?? responseKubeObject(event);
  const object = rawObject ? sanitize(rawObject) : undefined;
  const patchType = patchTypeOf(event, rawObject);
  const dryRun = isDryRun(event);
  const failed = responseCode(event) >= 400;
  // A failed update answers a Status: its uid is the one of the object it sent.
  const requestUid = isObject(event.requestObject) && isObject(event.requestObject.metadata) ? event.requestObject.metadata.uid : undefined;
  const uid = object?.metadata?.uid ?? (typeof requestUid === 'string' ? requestUid : undefined) ?? event.objectRef?.uid ?? '';
  const subject = (obj: KubeObject, rv: string): Subject => ({
    recordId: m.recordId,
    auditID: event.auditID,
    uid,
    resourceVersion: rv,
    stageTimestamp: event.stageTimestamp ?? '',
    verb: event.verb,
    ...(event.objectRef?.subresource ? { subresource: event.objectRef.subresource } : {}),
    object: obj,
    ...(event.verb === 'patch' ? { request: event.requestObject, ...(patchType ? { patchType } : {}) } : {}),
    ...(m.meta ? { meta: m.meta } : {}),
  });
  // `gone`: the write removed the object, so no state is left to hash.
  type Extra = { stored?: KubeObject; gone?: boolean; repairs?: ApplyResult['repairs']; duplicate?: boolean };
  const record = (fields: RepairFields, extra: Extra = {}): ChangeFields => ({
    ...fields,
    server_mutations: fields.server_mutations ?? requestServerMutations(event, extra.stored ?? object, ignore),
    dry_run: dryRun,
    ...(patchType ? { patch_type: patchType } : {}),
    ...(extra.stored && !extra.gone ? { state_hash: stateHash(extra.stored) } : {}),
  });
  const result = (next: History, fields: RepairFields, pred: Version | undefined, extra: Extra = {}): ApplyResult => ({
    history: next,
    record: { ...record(fields, extra), ...(failed ? { server_mutations: [] } : {}) },
    repairs: extra.repairs ?? [],
    previous: pred && !pred.deleted ? pred.object : undefined,
    duplicate: extra.duplicate ?? false,
  });

  // Failed writes store nothing. A failed update names the version it expected (its request's
  // resourceVersion): diffed against that one, repaired if it arrives late.
  if (failed) {
    const req = isObject(event.requestObject) ? sanitize(event.requestObject as KubeObject) : undefined;
    const rv = resourceVersionOf(req);
    if (event.verb === 'update' && req && rv) {
      const replay = replayDependent(h, m.recordId, ignore);
      if (replay) return result(h, replay.fields, replay.base, { duplicate: true });
      const s = subject(req, rv);
      const pred = baseOf({ uid, resourceVersion: rv, role: 'failed-update' }, h.versions);
      const fields = computeFields(s, 'failed-update', false, pred, ignore);
      return result(addDependent(h, remember({ ...s, role: 'failed-update' }, fields, pred)), fields, pred);
    }
    // A failed create shows everything it tried to create; a failed patch its document (new
    // values only: nothing was stored to read them back from). A denied request (403) has no body.
    if (event.verb === 'create' && req) {
      const ops = leaves(req, 'add', ignore);
      return result(h, { ops, paths: pathsOf(ops), patch: toJsonPatch(ops), kind: 'create', baseline: 'none' }, undefined);
    }
    const ops = event.verb === 'patch' ? patchDocOps(event.requestObject, patchType, undefined, ignore) : [];
    const kind = classifyKind(event.verb, event.objectRef?.subresource, ops, 'unknown');
    return result(h, { ops, paths: pathsOf(ops), patch: toJsonPatch(ops), kind, baseline: 'unknown' }, undefined);
  }

  const rv = resourceVersionOf(object);
  if (object && !rv && event.verb === 'create') {
    // A dry-run create answers the would-be object without a resourceVersion (nothing stored).
    const ops = leaves(object, 'add', ignore);
    return result(h, { ops, paths: pathsOf(ops), patch: toJsonPatch(ops), kind: 'create', baseline: 'none' }, undefined);
  }
  if (!object || !rv) {
    // Metadata level, or a Status answer: only what the request shows.
    const ops = patchDocOps(event.requestObject, patchType, object, ignore);
    return result(h, { ops, paths: pathsOf(ops), patch: toJsonPatch(ops), kind: classifyKind(event.verb, event.objectRef?.subresource, ops, 'unknown'), baseline: 'unknown' }, undefined);
  }
  const s = subject(object, rv);

  // A dry run stores nothing; its response keeps the stored resourceVersion, which names its base.
  const removal = isRemoval(event.verb, object);
  if (dryRun) {
    const replay = replayDependent(h, m.recordId, ignore);
    if (replay) return result(h, replay.fields, replay.base, { duplicate: true });
    const pred = baseOf({ uid, resourceVersion: rv, role: 'dry-run' }, h.versions);
    const fields = computeFields(s, 'dry-run', removal, pred, ignore);
    return result(addDependent(h, remember({ ...s, role: 'dry-run' }, fields, pred)), fields, pred);
  }

  const version: Version = { ...s, deleted: removal };
  const repairs: ApplyResult['repairs'] = [];

  // Replays (BullMQ retries, apiserver resends): recompute identically, change nothing.
  const seen = h.versions.find((v) => v.recordId === m.recordId);
  if (seen) {
    const pred = predecessorOf(seen, h.versions);
    return result(h, recall(seen, 'write', pred, ignore), pred, { stored: object, gone: seen.deleted, duplicate: true });
  }
  const replay = replayDependent(h, m.recordId, ignore);
  if (replay) return result(h, replay.fields, replay.base, { stored: object, duplicate: true });

  // The same resourceVersion as a stored version: one of the two writes changed nothing (a no-op PUT
  // or apply answers the stored object). The earlier one produced the version; the later is a no-op.
  const same = removal && (event.verb === 'delete' || event.verb === 'deletecollection') ? undefined : byRv(h.versions, uid, rv);
  if (same) {
    if (compareVersions(version, same) >= 0) {
      const fields = computeFields(s, 'noop', false, same, ignore);
      return result(addDependent(h, remember({ ...s, role: 'noop' }, fields, same)), fields, same, { stored: object });
    }
    // This write came first: it takes the version over, and the other becomes the no-op.
    const before = predecessorOf(same, h.versions);
    const fields = computeFields(s, 'write', removal, before, ignore);
    const taken = remember(version, fields, before);
    // Records diffed against the demoted write were diffed against this same state (same
    // resourceVersion): their fields stand, their base is now this write.
    const rebase = <T extends Subject>(x: T): T => (x.base && x.base.auditID === same.auditID && x.base.resourceVersion === same.resourceVersion ? { ...x, base: orderKey(taken) } : x);
    const versions = h.versions.map((v) => (v === same ? taken : rebase(v)));
    const { deleted: _deleted, ...demoted } = same;
    const dependents = h.dependents?.map(rebase);
    // The demoted write is now a dependent of this version: repairDependents recomputes it as a no-op.
    const next = repairDependents(addDependent({ ...h, versions, ...(dependents ? { dependents } : {}) }, { ...demoted, role: 'noop' }), taken, repairs, ignore);
    return result(next, fields, before, { stored: object, gone: removal, repairs });
  }

  let all = [...h.versions, version].sort(compareVersions);
  const pred = predecessorOf(version, all);
  const fields = computeFields(s, 'write', removal, pred, ignore);
  const stored = remember(version, fields, pred);
  all = all.map((v) => (v === version ? stored : v));
  const successor = successorOf(version, all);
  if (successor && betterBase(version, successor)) {
    const change = computeFields(successor, 'write', successor.deleted, version, ignore);
    repairs.push({ recordId: successor.recordId, change, subject: successor, previous: version.deleted ? undefined : version.object });
    all = all.map((v) => (v === successor ? remember(successor, change, version) : v));
  }
  const next = repairDependents({ ...h, versions: all }, stored, repairs, ignore);
  return result({ ...next, versions: boundVersions(next.versions) }, fields, pred, { stored: object, gone: removal, repairs });
}

/**
 * `x` with the record fields just computed for it against `base`, so that a replay gives them back
 * even after `base` has left the bounded history. A create's fields depend on its object only: not
 * stored (they would double the history's size while the create is in it).
 */
function remember<T extends Subject>(x: T, fields: RepairFields, base: Version | undefined): T {
  const { fields: _fields, base: _base, ...rest } = x;
  if (x.verb === 'create' && !base) return rest as T;
  const kept: StoredFields = { ops: fields.ops, kind: fields.kind, baseline: fields.baseline, ...(fields.server_mutations ? { server_mutations: fields.server_mutations } : {}) };
  return { ...rest, fields: kept, ...(base ? { base: orderKey(base) } : {}) } as T;
}

/** The record fields of a write already made: as stored, else (a create, or a history stored before fields were kept) recomputed. */
function recall(x: Subject, role: Role, base: Version | undefined, ignore: readonly string[]): RepairFields {
  if (!x.fields) return computeFields(x, role, role === 'write' ? (x as Version).deleted : dryRunRemoval(x), base, ignore);
  const f = x.fields;
  return { ops: f.ops, paths: pathsOf(f.ops), patch: toJsonPatch(f.ops), kind: f.kind, baseline: f.baseline, ...(f.server_mutations ? { server_mutations: f.server_mutations } : {}) };
}

/**
 * Whether `candidate` is a closer base for `x` than the one its record was computed against. Its
 * stored base may have left the history, so the comparison is with that base's order key: a late
 * write older than it is not `x`'s predecessor, whatever the history still holds.
 */
const betterBase = (candidate: Version, x: Subject): boolean => !x.base || compareVersions(candidate, x.base) > 0;

const dryRunRemoval = (d: Subject): boolean => (d as Dependent).role === 'dry-run' && isRemoval(d.verb, d.object);

/** A dependent record already made (same recordId): its fields, identical to the first time. */
function replayDependent(h: History, recordId: string, ignore: readonly string[]): { fields: RepairFields; base: Version | undefined } | undefined {
  const d = h.dependents?.find((x) => x.recordId === recordId);
  if (!d) return undefined;
  const base = baseOf(d, h.versions);
  return { fields: recall(d, d.role, base, ignore), base };
}

/**
 * Dry runs, failed updates and no-ops whose base is now `version` (it arrived after them):
 * recompute them against it. `h` already holds `version`.
 */
function repairDependents(h: History, version: Version, repairs: ApplyResult['repairs'], ignore: readonly string[]): History {
  if (!h.dependents) return h;
  const dependents = h.dependents.map((d) => {
    if (d.uid !== version.uid || d.recordId === version.recordId) return d;
    if (baseOf(d, h.versions)?.recordId !== version.recordId || !betterBase(version, d)) return d;
    const change = computeFields(d, d.role, dryRunRemoval(d), version, ignore);
    repairs.push({ recordId: d.recordId, change, subject: d, previous: version.object });
    return remember(d, change, version);
  });
  return { ...h, dependents };
}

/** One mutation per object the event wrote: deletecollection becomes one per item of its List. */
export function expandMutations(event: AuditEvent, cluster: string): Array<{ key: ObjectKey; mutation: Mutation }> {
  const ref = event.objectRef ?? {};
  const keyOf = (o: KubeObject | undefined): ObjectKey => ({
    cluster,
    group: ref.apiGroup ?? '',
    resource: ref.resource ?? '',
    namespace: o?.metadata?.namespace ?? ref.namespace ?? '',
    name: o?.metadata?.name ?? ref.name ?? '',
  });
  if (event.verb === 'deletecollection') {
    const items = listItems(event.responseObject);
    if (items && items.length > 0) {
      return items.map((item) => ({
        key: keyOf(item),
        mutation: { event, object: item, recordId: recordIdOf(cluster, event.auditID, item.metadata?.uid ?? item.metadata?.name ?? '') },
      }));
    }
  }
  const object = responseKubeObject(event);
  return [{ key: keyOf(object), mutation: { event, object, recordId: recordIdOf(cluster, event.auditID) } }];
}

/**
 * Adds an object as it is stored now (from `kubectl get -o json`) to its history, so the first
 * audited change to it already has old values. An object whose resourceVersion is already known is
 * left alone; an import never repairs records (it precedes them).
 */
export function importBaseline(history: History | undefined, object: KubeObject, importedAt: string): History {
  const h: History = history ?? { versions: [] };
  const rv = resourceVersionOf(object);
  const uid = object.metadata?.uid;
  if (!rv || !uid) throw new Error(`${object.kind ?? 'object'} ${object.metadata?.name ?? ''}: metadata.uid and metadata.resourceVersion are required`);
  if (byRv(h.versions, uid, rv)) return h;
  const version: Version = {
    recordId: `baseline:${uid}:${rv}`,
    auditID: 'baseline',
    uid,
    resourceVersion: rv,
    stageTimestamp: importedAt,
    verb: 'baseline',
    object: sanitize(object),
    deleted: false,
  };
  return { ...h, versions: insertVersion(h.versions, version) };
}

/**
 * The plural resource name of a kind, as Kubernetes' own defaulting derives it for CRDs that do
 * not override it (`InferenceService` → `inferenceservices`, `Policy` → `policies`).
 */
export function defaultPlural(kind: string): string {
  const lower = kind.toLowerCase();
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(lower)) return `${lower}es`;
  return `${lower}s`;
}
