import { createHash } from 'node:crypto';
import {
  rememberCanonical,
  escapeToken,
  isDryRun,
  isObject,
  listItems,
  parsePointer,
  recordIdOf,
  responseCode,
  responseKubeObject,
  type AuditEvent,
  type KubeObject,
  type ObjectKey,
} from '@crtrail/audit';
import {
  DEFAULT_IGNORE_PATHS,
  diffStates,
  diffValues,
  leaves,
  pathsOf,
  sanitize,
  toJsonPatch,
  type JsonPatchOp,
  type Op,
} from './ops.js';
import { applyJsonPatch, applyMergePatch } from './patch-apply.js';
import { classifyKind, type ChangeKind, type Outcome } from './kind.js';
import {
  baseOf,
  boundVersions,
  compareVersions,
  insertVersion,
  knownBefore,
  lastWriteBefore,
  MAX_DEPENDENTS,
  orderKey,
  predecessorOf,
  sameLife,
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
  /**
   * Diffed across a write whose result was never seen (logged without bodies): the ops show only
   * what this request itself shows, or its full body against the last state seen (`baseline: unknown`).
   */
  gap: boolean;
  /** sha256 (hex) of the RFC 8785 canonical JSON of the stored state after this write; absent when the write stored nothing. */
  state_hash?: string;
}

/** The fields of a record that depend on its predecessor: what a late event's repair rewrites. */
export type RepairFields = Pick<ChangeFields, 'ops' | 'paths' | 'patch' | 'kind' | 'baseline' | 'gap'> & {
  server_mutations?: Op[];
};

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
  const applied = (entries as Array<{ manager?: string; operation?: string }>).some(
    (e) => e.operation === 'Apply' && (manager === null || e.manager === manager),
  );
  return applied ? 'apply' : 'merge';
}

function pointerGet(doc: unknown, pointer: string): unknown {
  let node: unknown = doc;
  for (const key of parsePointer(pointer)) {
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isObject(node)) node = node[key];
    else return undefined;
  }
  return node;
}

const ignored = (path: string, ignore: readonly string[]): boolean =>
  ignore.some((p) => path === p || path.startsWith(`${p}/`));

/**
 * Without a known previous state: the paths a patch document touches, with the values the response
 * gives them; old values are unknown and so absent (`replace` with only `new`, `remove` with
 * neither). JSON Patch locations are resolved against the response: an append (`/list/-`) or an
 * insertion into an array names the element it created (`add`); `move` removes its source and
 * adds its target, `copy` adds its target, `test` changes nothing.
 */
function patchDocOps(
  request: unknown,
  type: string | undefined,
  response: KubeObject | undefined,
  ignore: readonly string[],
): Op[] {
  const ops: Op[] = [];
  if (type === 'json' && Array.isArray(request)) {
    const docOps = (request as unknown[]).filter(isObject) as Array<{
      op?: unknown;
      path?: unknown;
      from?: unknown;
      value?: unknown;
    }>;
    // `/list/-` appends: name the element by its index in the response (the k-th of m appends to
    // one array is at length - m + k), so the path is the same one a known-baseline diff would give.
    const appends = new Map<string, number>();
    for (const o of docOps)
      if ((o.op === 'add' || o.op === 'move' || o.op === 'copy') && typeof o.path === 'string' && o.path.endsWith('/-'))
        appends.set(o.path, (appends.get(o.path) ?? 0) + 1);
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
    // An `add` into an array (index or `-`) always creates the element; into an object it may replace.
    const intoArray = (path: string): boolean => {
      const parent = path.slice(0, path.lastIndexOf('/'));
      return Array.isArray(pointerGet(response, parent)) && /\/(-|0|[1-9][0-9]*)$/.test(path);
    };
    for (const raw of docOps) {
      if (!pointer(raw.path) || raw.op === 'test') continue;
      // Old values stay unknown without a baseline, even a moved one's (the server may have changed it).
      if (raw.op === 'move' && pointer(raw.from) && !ignored(raw.from, ignore))
        ops.push({ op: 'remove', path: raw.from });
      const creates = (raw.op === 'add' || raw.op === 'move' || raw.op === 'copy') && intoArray(raw.path);
      const path = resolve(raw.path);
      if (ignored(path, ignore)) continue;
      if (raw.op === 'remove') {
        ops.push({ op: 'remove', path });
        continue;
      }
      // The stored value when the response has it (the server may have mutated it), else what was sent.
      const stored = response ? pointerGet(response, path) : undefined;
      const value = stored !== undefined ? stored : raw.op === 'add' || raw.op === 'replace' ? raw.value : undefined;
      const op = creates || raw.op === 'move' || raw.op === 'copy' ? 'add' : 'replace';
      ops.push(value === undefined ? { op: 'replace', path } : { op, path, new: value });
    }
    // Several ops of one document on one path: the last one is what happened.
    const last = new Map(ops.map((o, i) => [o.path, i]));
    return ops.filter((o, i) => last.get(o.path) === i);
  } else if ((type === 'merge' || type === 'apply') && isObject(request)) {
    const visit = (patch: unknown, path: string): void => {
      if (ignored(path, ignore)) return;
      if (isObject(patch) && Object.keys(patch).length > 0) {
        for (const k of Object.keys(patch).sort()) {
          // An apply configuration (or a patch naming them) repeats the object's identity and served version: not changes.
          if (
            (path === '' && (k === 'apiVersion' || k === 'kind')) ||
            (type === 'apply' && path === '/metadata' && (k === 'name' || k === 'namespace'))
          )
            continue;
          visit(patch[k], `${path}/${escapeToken(k)}`);
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

/** Ignored paths plus `/apiVersion`: states of one object read through two served versions differ there, and that is no change. */
const stateIgnore = (ignore: readonly string[]): string[] => [...ignore, '/apiVersion'];

const REPLICAS = '/spec/replicas';

/** A subresource write changes only its part of the object: ops elsewhere come from writes we missed. */
function restrict(ops: Op[], subresource: string | undefined): Op[] {
  const root = subresource === 'status' ? '/status' : subresource === 'scale' ? REPLICAS : undefined;
  return root === undefined ? ops : ops.filter((o) => o.path === root || o.path.startsWith(`${root}/`));
}

/** `spec.replicas` of a Scale (omitted when 0: it is `omitempty`). */
const scaleReplicas = (scale: unknown): unknown => pointerGet(scale, REPLICAS) ?? 0;

/**
 * The custom resource after a `/scale` write: its known state with the replica count the Scale
 * answered (the CRD's `specReplicasPath` is `.spec.replicas` for nearly every CRD; a custom one
 * is not read) and the Scale's resourceVersion, which is the object's.
 */
function overlayScale(base: KubeObject, scale: unknown): KubeObject {
  const rv = resourceVersionOf(scale);
  const spec = isObject(base.spec) ? base.spec : {};
  return {
    ...base,
    metadata: { ...base.metadata, ...(rv ? { resourceVersion: rv } : {}) },
    spec: { ...spec, replicas: scaleReplicas(scale) },
  };
}

/** A stored state we can take old values from: not removed, not unseen. */
const knownState = (v: Version | undefined): Version | undefined => (v && !v.deleted && !v.opaque ? v : undefined);

/** A scale version's stored state follows its predecessor's: recomputed whenever that changes. */
function materialize(v: Version, pred: Version | undefined): Version {
  if (!v.scale) return v;
  const base = knownState(pred);
  if (base) return { ...v, object: overlayScale(base.object, v.scale), opaque: false };
  return { ...v, object: v.scale, opaque: true };
}

/** RFC 6902 applied op by op, an op that does not apply skipped (`test` ignored): what a failed patch attempted. */
function attemptJsonPatch(doc: unknown, ops: unknown[]): unknown {
  let out = doc;
  for (const o of ops) {
    if (isObject(o) && o.op === 'test') continue;
    try {
      out = applyJsonPatch(out, [o]);
    } catch {
      // Not applicable to what was stored: that op attempted nothing we can show.
    }
  }
  return out;
}

/** What a failed write tried to make of `base`: its full body, or its patch applied; undefined when it cannot be told. */
function attempted(s: Subject, base: KubeObject): KubeObject | undefined {
  const sub = s.subresource;
  if (s.verb === 'update') {
    if (sub === 'scale') return overlayScale(base, s.object);
    if (sub === 'status') return { ...base, status: s.object.status };
    return s.object;
  }
  if (s.verb !== 'patch') return undefined;
  const target: unknown =
    sub === 'scale'
      ? {
          apiVersion: 'autoscaling/v1',
          kind: 'Scale',
          metadata: base.metadata,
          spec: { replicas: pointerGet(base, REPLICAS) ?? 0 },
        }
      : base;
  let patched: unknown;
  if (s.patchType === 'json' && Array.isArray(s.request)) patched = attemptJsonPatch(target, s.request);
  // Server-side apply merges by field ownership; for what a rejected apply tried, a merge is close.
  else if ((s.patchType === 'merge' || s.patchType === 'apply') && isObject(s.request))
    patched = applyMergePatch(target, s.request);
  if (!isObject(patched)) return undefined;
  return sub === 'scale' ? overlayScale(base, patched) : (patched as KubeObject);
}

/**
 * Without a (usable) previous state: only what the write itself shows. A patch its document; a
 * scale write its replica count; a status update its status; a held delete its deletionTimestamp.
 */
function shownOps(s: Subject, ignore: readonly string[]): Op[] {
  if (s.scale) return [{ op: 'replace', path: REPLICAS, new: scaleReplicas(s.scale) }];
  if (s.verb === 'patch') return restrict(patchDocOps(s.request, s.patchType, s.object, ignore), s.subresource);
  if (s.subresource === 'status' && s.object.status !== undefined)
    return [{ op: 'replace', path: '/status', new: s.object.status }];
  if (s.verb === 'delete' && s.object.metadata?.deletionTimestamp !== undefined)
    return [{ op: 'replace', path: '/metadata/deletionTimestamp', new: s.object.metadata.deletionTimestamp }];
  return [];
}

/** For a patch: the patch applied to the previous state, compared with what was stored. */
function patchServerMutations(s: Subject, previous: Version | undefined, ignore: readonly string[]): Op[] {
  if (s.created && isObject(s.request)) {
    // Server-side apply creating: the apply configuration is the whole intended object.
    return diffValues(sanitize(s.request as KubeObject), s.object, [...stateIgnore(ignore), ...CREATE_REQUEST_IGNORE]);
  }
  if (
    s.verb !== 'patch' ||
    s.scale ||
    !previous ||
    previous.deleted ||
    previous.opaque ||
    (s.patchType !== 'json' && s.patchType !== 'merge')
  )
    return [];
  try {
    const expected =
      s.patchType === 'json'
        ? applyJsonPatch(previous.object, s.request as unknown[])
        : applyMergePatch(previous.object, s.request);
    return restrict(diffValues(expected, s.object, stateIgnore(ignore)), s.subresource);
  } catch {
    // The patch does not apply to what we believe was stored: no honest expectation to compare with.
    return [];
  }
  // Server-side apply merges by field ownership, not RFC 7386: never compared (empty).
}

const isDeleteVerb = (verb: string): boolean => verb === 'delete' || verb === 'deletecollection';

/**
 * The predecessor-dependent fields of one record. The single function used for first computations,
 * replays and repairs, which is what makes the final records independent of the delivery order.
 * `known`: when `pred` is opaque, the latest state seen before it ({@link knownBefore}).
 */
function computeFields(
  s: Subject,
  role: Role,
  removal: boolean,
  pred: Version | undefined,
  ignore: readonly string[],
  known?: Version,
): RepairFields {
  const same = stateIgnore(ignore);
  let ops: Op[];
  let baseline: Baseline;
  let gap = false;
  let outcome: Outcome = s.verb === 'create' || s.created ? 'create' : removal ? 'delete' : undefined;
  const failed = role === 'failed' || role === 'failed-update';
  if (failed) {
    // Changed nothing: what it attempted, against the state it was made against when we know it.
    outcome = undefined;
    const base = knownState(pred);
    const attempt = base ? attempted(s, base.object) : undefined;
    if (base && attempt) {
      ops = restrict(diffValues(base.object, attempt, same), s.subresource);
      baseline = 'known';
    } else {
      ops = s.verb === 'patch' ? restrict(patchDocOps(s.request, s.patchType, undefined, ignore), s.subresource) : [];
      baseline = 'unknown';
    }
  } else if (s.opaque && !s.scale) {
    // Logged without its response: only the request's paths (none when it has no body either).
    ops = s.verb === 'patch' ? restrict(patchDocOps(s.request, s.patchType, undefined, ignore), s.subresource) : [];
    baseline = 'unknown';
  } else if (outcome === 'create') {
    ops = leaves(s.object, 'add', ignore);
    baseline = 'none';
  } else {
    gap = pred?.opaque === true;
    const prior = gap ? known : knownState(pred);
    if ((role === 'write' || role === 'dry-run') && removal && isDeleteVerb(s.verb)) {
      // The removed object is recorded field by field; from our state when we have it.
      // A Status answer (no resourceVersion) shows no object: nothing to list without our state.
      ops =
        prior && !gap
          ? leaves(prior.object, 'remove', ignore)
          : s.resourceVersion === ''
            ? []
            : leaves(s.object, 'remove', ignore);
      baseline = prior && !gap ? 'known' : 'unknown';
    } else if (prior && !gap) {
      ops = restrict(
        diffStates(prior.object, s.scale ? overlayScale(prior.object, s.scale) : s.object, same),
        s.subresource,
      );
      baseline = 'known';
    } else if (prior && s.verb !== 'patch' && !s.scale) {
      // A full body after a gap: against the last state we saw, flagged (it may show the unseen change).
      ops = restrict(diffStates(prior.object, s.object, same), s.subresource);
      baseline = 'unknown';
    } else {
      ops = shownOps(s, ignore);
      baseline = 'unknown';
    }
  }
  const fields: RepairFields = {
    ops,
    paths: pathsOf(ops),
    patch: toJsonPatch(ops),
    kind: classifyKind(ops, outcome),
    baseline,
    gap,
  };
  if (s.verb === 'patch')
    fields.server_mutations = failed ? [] : patchServerMutations(s, gap ? undefined : pred, ignore);
  return fields;
}

/** Create/update: the request (full object) against what was stored — independent of the predecessor. */
function requestServerMutations(event: AuditEvent, stored: KubeObject | undefined, ignore: readonly string[]): Op[] {
  if ((event.verb !== 'create' && event.verb !== 'update') || !stored || !isObject(event.requestObject)) return [];
  const extra = event.verb === 'create' ? CREATE_REQUEST_IGNORE : [];
  return restrict(
    diffValues(sanitize(event.requestObject as KubeObject), stored, [...ignore, ...extra]),
    event.objectRef?.subresource,
  );
}

/** A write that removes the object: a delete not held by finalizers, or the last finalizer removed from an object being deleted. */
function isRemoval(verb: string, object: KubeObject): boolean {
  const finalizers = object.metadata?.finalizers ?? [];
  if (verb === 'delete' || verb === 'deletecollection') return finalizers.length === 0;
  return verb !== 'create' && Boolean(object.metadata?.deletionTimestamp) && finalizers.length === 0;
}

const byRv = (list: Version[], uid: string, rv: string): Version | undefined =>
  list.find((v) => v.uid === uid && v.resourceVersion === rv && !v.deleted && !v.opaque);

function addDependent(history: History, d: Dependent): History {
  const others = (history.dependents ?? []).filter((x) => x.recordId !== d.recordId);
  // Sorted like versions so that the stored history, too, is the same whatever the delivery order.
  const dependents = [...others, d]
    .sort((a, b) => compareVersions({ ...a, deleted: false }, { ...b, deleted: false }))
    .slice(-MAX_DEPENDENTS);
  return { ...history, dependents };
}

/** Subresources whose writes change the object in a way we can follow. */
const FOLLOWED_SUBRESOURCES = new Set(['status', 'scale']);

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
  const code = responseCode(event);
  const failed = code >= 400;
  const subresource = event.objectRef?.subresource;
  // A DELETE answered by a Status names the object it removed in details.uid.
  const status =
    isObject(event.responseObject) && event.responseObject.kind === 'Status' ? event.responseObject : undefined;
  const detailsUid =
    status && isObject(status.details) && typeof status.details.uid === 'string' ? status.details.uid : undefined;
  // A failed update answers a Status: its uid is the one of the object it sent.
  const requestUid =
    isObject(event.requestObject) && isObject(event.requestObject.metadata)
      ? event.requestObject.metadata.uid
      : undefined;
  const uid =
    object?.metadata?.uid ??
    (typeof requestUid === 'string' ? requestUid : undefined) ??
    detailsUid ??
    event.objectRef?.uid ??
    '';
  // Bodies dropped (Metadata level, or truncated by the webhook backend): the event shows no state.
  const truncated = event.annotations?.['audit.k8s.io/truncated'] === 'true';
  const stub = (): KubeObject => ({
    metadata: {
      ...(event.objectRef?.name ? { name: event.objectRef.name } : {}),
      ...(event.objectRef?.namespace ? { namespace: event.objectRef.namespace } : {}),
      ...(uid ? { uid } : {}),
    },
  });
  const subject = (obj: KubeObject, rv: string): Subject => ({
    recordId: m.recordId,
    auditID: event.auditID,
    uid,
    resourceVersion: rv,
    stageTimestamp: event.stageTimestamp ?? '',
    verb: event.verb,
    ...(subresource ? { subresource } : {}),
    object: obj,
    ...(event.verb === 'patch'
      ? { request: truncated ? undefined : event.requestObject, ...(patchType ? { patchType } : {}) }
      : {}),
    ...(event.verb === 'patch' && code === 201 && !failed ? { created: true } : {}),
    ...(m.meta ? { meta: m.meta } : {}),
  });
  // `gone`: the write removed the object, so no state is left to hash.
  type Extra = {
    stored?: KubeObject | undefined;
    gone?: boolean;
    repairs?: ApplyResult['repairs'];
    duplicate?: boolean;
  };
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
    // The state the ops' old values come from (its hash is the record's prev_state_hash).
    previous: fields.baseline === 'known' ? knownState(pred)?.object : undefined,
    duplicate: extra.duplicate ?? false,
  });
  const plain = (ops: Op[], kind: ChangeKind, baseline: Baseline): RepairFields => ({
    ops,
    paths: pathsOf(ops),
    patch: toJsonPatch(ops),
    kind,
    baseline,
    gap: false,
  });

  // A subresource we cannot follow (aggregated or custom): recorded, the object's state untouched.
  if (subresource && !FOLLOWED_SUBRESOURCES.has(subresource)) return result(h, plain([], 'noop', 'unknown'), undefined);

  // Failed writes store nothing. A failed update names the version it expected (its request's
  // resourceVersion); any other failed write with a body was made against the version stored
  // before it: diffed against those, repaired if they arrive late.
  if (failed) {
    const req = !truncated && isObject(event.requestObject) ? sanitize(event.requestObject as KubeObject) : undefined;
    const rv = resourceVersionOf(req);
    if (event.verb === 'create' && req) {
      // A failed create shows everything it tried to create.
      const ops = leaves(req, 'add', ignore);
      return result(h, plain(ops, ops.length > 0 ? 'create' : 'noop', 'none'), undefined);
    }
    const attemptable =
      (event.verb === 'update' && req) || (event.verb === 'patch' && !truncated && event.requestObject !== undefined);
    if (!attemptable) return result(h, plain([], 'noop', 'unknown'), undefined);
    const replay = replayDependent(h, m.recordId, ignore);
    if (replay) return result(h, replay.fields, replay.base, { duplicate: true });
    const expected = event.verb === 'update' && rv ? rv : undefined;
    const role: Dependent['role'] = expected ? 'failed-update' : 'failed';
    const s = subject(event.verb === 'update' && req ? req : stub(), expected ?? '');
    const pred = baseOf(
      { uid, resourceVersion: s.resourceVersion, role, stageTimestamp: s.stageTimestamp },
      h.versions,
    );
    const fields = computeFields(s, role, false, pred, ignore);
    return result(addDependent(h, remember({ ...s, role }, fields, pred)), fields, pred);
  }

  const scale = subresource === 'scale' && object ? object : undefined;
  const rv = resourceVersionOf(object);
  if (object && !rv && (event.verb === 'create' || (event.verb === 'patch' && code === 201))) {
    // A dry-run create answers the would-be object without a resourceVersion (nothing stored).
    const ops = leaves(object, 'add', ignore);
    return result(h, plain(ops, 'create', 'none'), undefined);
  }
  if (dryRun) {
    // A dry run stores nothing; its response keeps the stored resourceVersion, which names its base.
    if (!object || !rv) return result(h, plain([], 'noop', 'unknown'), undefined);
    const replay = replayDependent(h, m.recordId, ignore);
    if (replay) return result(h, replay.fields, replay.base, { duplicate: true });
    const s = { ...subject(object, rv), ...(scale ? { scale } : {}) };
    const pred = baseOf({ uid, resourceVersion: rv, role: 'dry-run', stageTimestamp: s.stageTimestamp }, h.versions);
    const fields = computeFields(s, 'dry-run', isRemoval(event.verb, object), pred, ignore);
    return result(addDependent(h, remember({ ...s, role: 'dry-run' }, fields, pred)), fields, pred);
  }

  let s: Subject;
  let removal: boolean;
  if (object && rv) {
    s = { ...subject(object, rv), ...(scale ? { scale } : {}) };
    removal = isRemoval(event.verb, object);
  } else if (event.verb === 'delete' && status && !truncated) {
    // Removed (a Status answers only a delete that did not wait on finalizers): ordered by time.
    s = subject(stub(), '');
    removal = true;
  } else if (event.verb === 'deletecollection') {
    // No List body: one record for the request; its objects' histories are not reachable from it.
    return result(h, plain([], 'delete', 'unknown'), undefined);
  } else {
    // Logged without the stored object: its state is unknown from here until a write shows one.
    s = { ...subject(stub(), ''), opaque: true };
    removal = event.verb === 'delete' && !(object && (object.metadata?.finalizers ?? []).length > 0);
  }
  const version: Version = { ...s, deleted: removal };
  const repairs: ApplyResult['repairs'] = [];
  const stateOf = (v: Version): KubeObject | undefined =>
    v.opaque || v.scale || v.resourceVersion === '' ? undefined : v.object;

  // Replays (BullMQ retries, apiserver resends): recompute identically, change nothing.
  const seen = h.versions.find((v) => v.recordId === m.recordId);
  if (seen) {
    const pred = predecessorOf(seen, h.versions);
    return result(h, recall(seen, 'write', pred, ignore, h.versions), pred, {
      stored: stateOf(seen),
      gone: seen.deleted,
      duplicate: true,
    });
  }
  const replay = replayDependent(h, m.recordId, ignore);
  if (replay) return result(h, replay.fields, replay.base, { stored: object, duplicate: true });

  // The same resourceVersion as a stored version: one of the two writes changed nothing (a no-op PUT
  // or apply answers the stored object). The earlier one produced the version; the later is a no-op.
  const same =
    s.resourceVersion === '' || (removal && isDeleteVerb(event.verb))
      ? undefined
      : byRv(h.versions, uid, s.resourceVersion);
  if (same) {
    if (compareVersions(version, same) >= 0) {
      const fields = computeFields(s, 'noop', false, same, ignore);
      return result(addDependent(h, remember({ ...s, role: 'noop' }, fields, same)), fields, same, {
        stored: scale ? undefined : object,
      });
    }
    // This write came first: it takes the version over, and the other becomes the no-op.
    const before = predecessorOf(same, h.versions);
    const taken0 = materialize(version, before);
    const fields = computeFields(taken0, 'write', removal, before, ignore, knownBefore(before, uid, h.versions));
    const taken = remember(taken0, fields, before);
    // Records diffed against the demoted write were diffed against this same state (same
    // resourceVersion): their fields stand, their base is now this write.
    const rebase = <T extends Subject>(x: T): T =>
      x.base && x.base.auditID === same.auditID && x.base.resourceVersion === same.resourceVersion
        ? { ...x, base: orderKey(taken) }
        : x;
    const versions = h.versions.map((v) => (v === same ? taken : rebase(v)));
    const { deleted: _deleted, ...demoted } = same;
    const dependents = h.dependents?.map(rebase);
    // The demoted write is now a dependent of this version: repairDependents recomputes it as a no-op.
    const next = repairDependents(
      addDependent({ ...h, versions, ...(dependents ? { dependents } : {}) }, { ...demoted, role: 'noop' }),
      taken,
      repairs,
      ignore,
    );
    return result(next, fields, before, { stored: stateOf(taken), gone: removal, repairs });
  }

  let all = [...h.versions, version].sort(compareVersions);
  const pred = predecessorOf(version, all);
  const placed = materialize(version, pred);
  const fields = computeFields(placed, 'write', removal, pred, ignore, knownBefore(pred, uid, all));
  const stored = remember(placed, fields, pred);
  all = all.map((v) => (v === version ? stored : v));
  // The successor was diffed against the wrong base: repair it. A scale successor's state derives
  // from its predecessor's, so the repair goes on down the chain until a write with its own state.
  let base: Version = stored;
  let force = false;
  const rederived: Version[] = [];
  // Each version is repaired at most once: writes ordered by time (no resourceVersion) and writes
  // ordered by resourceVersion need not agree when clocks or inputs are odd, and must not loop.
  const visited = new Set<string>([stored.recordId]);
  for (
    let successor = successorOf(base, all);
    successor && !visited.has(successor.recordId) && (force || betterBase(base, successor));
    successor = successorOf(base, all)
  ) {
    visited.add(successor.recordId);
    const fixed = materialize(successor, base);
    const change = computeFields(fixed, 'write', fixed.deleted, base, ignore, knownBefore(base, fixed.uid, all));
    const previous = change.baseline === 'known' ? knownState(base)?.object : undefined;
    repairs.push({ recordId: successor.recordId, change, subject: fixed, previous });
    const next = remember(fixed, change, base);
    all = all.map((v) => (v === successor ? next : v));
    if (successor.scale) rederived.push(next);
    // A write with its own state ends the chain; after a scale or an opaque write, the next
    // record's base (or the last state seen before the gap) may have changed too.
    if (!successor.scale && !successor.opaque) break;
    force = true;
    base = next;
  }
  let next = repairDependents({ ...h, versions: all }, stored, repairs, ignore);
  for (const v of rederived) next = repairDependents(next, v, repairs, ignore, true);
  return result({ ...next, versions: boundVersions(next.versions) }, fields, pred, {
    stored: stateOf(stored),
    gone: removal,
    repairs,
  });
}
/**
 * `x` with the record fields just computed for it against `base`, so that a replay gives them back
 * even after `base` has left the bounded history. A create's fields depend on its object only: not
 * stored (they would double the history's size while the create is in it).
 */
function remember<T extends Subject>(x: T, fields: RepairFields, base: Version | undefined): T {
  const { fields: _fields, base: _base, ...rest } = x;
  if ((x.verb === 'create' || x.created) && !base) return rest as T;
  const kept: StoredFields = {
    ops: fields.ops,
    kind: fields.kind,
    baseline: fields.baseline,
    ...(fields.server_mutations ? { server_mutations: fields.server_mutations } : {}),
    ...(fields.gap ? { gap: true } : {}),
  };
  return { ...rest, fields: kept, ...(base ? { base: orderKey(base) } : {}) } as T;
}

/** The record fields of a write already made: as stored, else (a create, or a history stored before fields were kept) recomputed. */
function recall(
  x: Subject,
  role: Role,
  base: Version | undefined,
  ignore: readonly string[],
  versions: Version[] = [],
): RepairFields {
  if (!x.fields)
    return computeFields(
      x,
      role,
      role === 'write' ? (x as Version).deleted : dryRunRemoval(x),
      base,
      ignore,
      knownBefore(base, x.uid, versions),
    );
  const f = x.fields;
  return {
    ops: f.ops,
    paths: pathsOf(f.ops),
    patch: toJsonPatch(f.ops),
    kind: f.kind,
    baseline: f.baseline,
    gap: f.gap === true,
    ...(f.server_mutations ? { server_mutations: f.server_mutations } : {}),
  };
}

/**
 * Whether `candidate` is a closer base for `x` than the one its record was computed against. Its
 * stored base may have left the history, so the comparison is with that base's order key: a late
 * write older than it is not `x`'s predecessor, whatever the history still holds.
 */
const betterBase = (candidate: Version, x: Subject): boolean => !x.base || compareVersions(candidate, x.base) > 0;

const dryRunRemoval = (d: Subject): boolean => (d as Dependent).role === 'dry-run' && isRemoval(d.verb, d.object);

/** A dependent record already made (same recordId): its fields, identical to the first time. */
function replayDependent(
  h: History,
  recordId: string,
  ignore: readonly string[],
): { fields: RepairFields; base: Version | undefined } | undefined {
  const d = h.dependents?.find((x) => x.recordId === recordId);
  if (!d) return undefined;
  const base = baseOf(d, h.versions);
  return { fields: recall(d, d.role, base, ignore), base };
}

/**
 * Dry runs, failed updates and no-ops whose base is now `version` (it arrived after them):
 * recompute them against it. `h` already holds `version`.
 */
function repairDependents(
  h: History,
  version: Version,
  repairs: ApplyResult['repairs'],
  ignore: readonly string[],
  changed = false,
): History {
  if (!h.dependents) return h;
  const dependents = h.dependents.map((d) => {
    if (!sameLife(d, version) || d.recordId === version.recordId) return d;
    const named = d.role === 'failed' ? lastWriteBefore(d, h.versions) : baseOf(d, h.versions);
    // `changed`: the version's own state was recomputed (a scale write after a late predecessor).
    if (named?.recordId !== version.recordId || !(changed || betterBase(version, d))) return d;
    const change = computeFields(d, d.role, dryRunRemoval(d), version, ignore);
    repairs.push({
      recordId: d.recordId,
      change,
      subject: d,
      previous: change.baseline === 'known' ? knownState(version)?.object : undefined,
    });
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
        mutation: {
          event,
          object: item,
          recordId: recordIdOf(cluster, event.auditID, item.metadata?.uid ?? item.metadata?.name ?? ''),
        },
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
  if (!rv || !uid)
    throw new Error(
      `${object.kind ?? 'object'} ${object.metadata?.name ?? ''}: metadata.uid and metadata.resourceVersion are required`,
    );
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
