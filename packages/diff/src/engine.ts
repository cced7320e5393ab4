import { createHash } from 'node:crypto';
import {
  canonicalJson,
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
  compareVersions,
  insertVersion,
  MAX_DEPENDENTS,
  predecessorOf,
  successorOf,
  type Dependent,
  type History,
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
}

export interface EngineOptions {
  /** JSON pointers left out of diffs; {@link DEFAULT_IGNORE_PATHS} by default. */
  ignorePaths?: readonly string[];
}

export interface ApplyResult {
  history: History;
  record: ChangeFields;
  /** Records written earlier whose predecessor changed (a late event arrived after them): rewrite in place. */
  repairs: Array<{ recordId: string; change: RepairFields }>;
  /** Stored state before this write, when known (drift detection compares it with the new one). */
  previous?: KubeObject | undefined;
  /** The recordId was already applied: the record was recomputed identically and nothing moved. */
  duplicate: boolean;
}

type Role = 'write' | Dependent['role'];

/** CR create drops `.status` from the request: not a server mutation. */
const CREATE_REQUEST_IGNORE = ['/status'];

export function stateHash(object: KubeObject): string {
  return createHash('sha256').update(canonicalJson(object) ?? '').digest('hex');
}

function resourceVersionOf(o: unknown): string | undefined {
  const rv = isObject(o) && isObject(o.metadata) ? o.metadata.resourceVersion : undefined;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

/**
 * How a patch was sent. A JSON array is JSON Patch; an object is a merge patch, or a server-side
 * apply when the response's managedFields record an `Apply` by this field manager (the audit event
 * does not log the Content-Type) and the document names apiVersion/kind as apply configurations must.
 */
export function patchTypeOf(event: AuditEvent, response: KubeObject | undefined): PatchType | undefined {
  if (event.verb !== 'patch') return undefined;
  if (Array.isArray(event.requestObject)) return 'json';
  if (!isObject(event.requestObject)) return undefined;
  const q = event.requestURI.indexOf('?');
  const manager = q >= 0 ? new URLSearchParams(event.requestURI.slice(q + 1)).get('fieldManager') : null;
  const entries = (response?.metadata?.managedFields ?? []) as Array<{ manager?: string; operation?: string }>;
  const applied = entries.some((e) => e.operation === 'Apply' && (manager === null || e.manager === manager));
  const req = event.requestObject;
  return applied && typeof req.apiVersion === 'string' && typeof req.kind === 'string' ? 'apply' : 'merge';
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
    for (const raw of request as Array<{ op?: string; path?: string; value?: unknown }>) {
      if (typeof raw?.path !== 'string' || raw.op === 'test' || ignored(raw.path, ignore)) continue;
      if (raw.op === 'remove') {
        ops.push({ op: 'remove', path: raw.path });
        continue;
      }
      const value = response ? pointerGet(response, raw.path) : raw.value;
      ops.push({ op: 'replace', path: raw.path, new: value === undefined ? raw.value : value });
    }
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
  const known = (recordId: string): boolean => (h.dependents ?? []).some((d) => d.recordId === recordId);
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
      const s = subject(req, rv);
      const pred = baseOf({ uid, resourceVersion: rv, role: 'failed-update' }, h.versions);
      const fields = computeFields(s, 'failed-update', false, pred, ignore);
      return result(addDependent(h, { ...s, role: 'failed-update' }), fields, pred, { duplicate: known(m.recordId) });
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
    const pred = baseOf({ uid, resourceVersion: rv, role: 'dry-run' }, h.versions);
    const fields = computeFields(s, 'dry-run', removal, pred, ignore);
    return result(addDependent(h, { ...s, role: 'dry-run' }), fields, pred, { duplicate: known(m.recordId) });
  }

  const version: Version = { ...s, deleted: removal };
  const repairs: ApplyResult['repairs'] = [];

  // Replays (BullMQ retries, apiserver resends): recompute identically, change nothing.
  const seen = h.versions.find((v) => v.recordId === m.recordId);
  if (seen) {
    const pred = predecessorOf(seen, h.versions);
    return result(h, computeFields(seen, 'write', seen.deleted, pred, ignore), pred, { stored: object, gone: seen.deleted, duplicate: true });
  }
  const seenNoop = h.dependents?.find((d) => d.recordId === m.recordId && d.role === 'noop');
  if (seenNoop) {
    const pred = byRv(h.versions, uid, rv);
    return result(h, computeFields(seenNoop, 'noop', false, pred, ignore), pred, { stored: object, duplicate: true });
  }

  // The same resourceVersion as a stored version: one of the two writes changed nothing (a no-op PUT
  // or apply answers the stored object). The earlier one produced the version; the later is a no-op.
  const same = removal && (event.verb === 'delete' || event.verb === 'deletecollection') ? undefined : byRv(h.versions, uid, rv);
  if (same) {
    if (compareVersions(version, same) >= 0) {
      const next = addDependent(h, { ...s, role: 'noop' });
      return result(next, computeFields(s, 'noop', false, same, ignore), same, { stored: object });
    }
    // This write came first: it takes the version over, and the other becomes the no-op.
    const versions = h.versions.map((v) => (v === same ? version : v));
    const { deleted: _deleted, ...demoted } = same;
    // The demoted write is now a dependent of this version: repairDependents recomputes it as a no-op.
    const next = repairDependents(addDependent({ ...h, versions }, { ...demoted, role: 'noop' }), version, repairs, ignore);
    const pred = predecessorOf(version, versions);
    return result(next, computeFields(s, 'write', removal, pred, ignore), pred, { stored: object, gone: removal, repairs });
  }

  const versions = insertVersion(h.versions, version);
  const pred = predecessorOf(version, versions);
  const successor = successorOf(version, versions);
  if (successor) repairs.push({ recordId: successor.recordId, change: computeFields(successor, 'write', successor.deleted, version, ignore) });
  const next = repairDependents({ ...h, versions }, version, repairs, ignore);
  return result(next, computeFields(s, 'write', removal, pred, ignore), pred, { stored: object, gone: removal, repairs });
}

/**
 * Dry runs, failed updates and no-ops whose base is now `version` (it arrived after them):
 * recompute them against it. `h` already holds `version`.
 */
function repairDependents(h: History, version: Version, repairs: ApplyResult['repairs'], ignore: readonly string[]): History {
  for (const d of h.dependents ?? []) {
    if (d.uid !== version.uid || d.recordId === version.recordId) continue;
    if (baseOf(d, h.versions) !== version) continue;
    const removal = d.role === 'dry-run' && isRemoval(d.verb, d.object);
    repairs.push({ recordId: d.recordId, change: computeFields(d, d.role, removal, version, ignore) });
  }
  return h;
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
