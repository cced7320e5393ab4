import { createHash } from 'node:crypto';
import { canonicalJson, isObject, parsePointer, type AuditEvent, type KubeObject } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';
import {
  DEFAULT_IGNORE_PATHS,
  applyJsonPatch,
  applyMergePatch,
  classifyKind,
  diffValues,
  leaves,
  opsText,
  outcomeOf,
  pathsOf,
  patchTypeOf,
  sanitize,
  toJsonPatch,
  type Op,
} from '@crtrail/diff';
import { appliesTo, classifyActor, criticalFor, detectDrift, type ActorKind } from '@crtrail/enrich';

/**
 * Bumped when the code that derives a record's summary fields changes its results: part of the
 * configuration digest, so records derived by other code are reported as not checkable rather
 * than as edited.
 */
const DERIVATION_VERSION = 2;

/**
 * The parts of a validated configuration that a record's derived fields depend on: the diff's
 * ignored paths (ops, and so everything computed from them), the actor rules (`crtrail.actor`,
 * drift) and the critical rules. Redaction is not here (it changes the chained bodies before the
 * record is hashed), nor the filter's built-in groups (they decide which events become records).
 */
export function derivationConfig(config: CrtrailConfig): Derivation {
  return {
    derivation: DERIVATION_VERSION,
    ignore_paths: [...DEFAULT_IGNORE_PATHS, ...config.filter.ignorePaths],
    actors: config.actors,
    critical: config.critical,
  };
}

/** What derived fields are computed with: {@link derivationConfig}, as an export's manifest carries it. */
export interface Derivation {
  derivation: number;
  ignore_paths: string[];
  actors: CrtrailConfig['actors'];
  critical: CrtrailConfig['critical'];
}

/** sha256 (hex) of the RFC 8785 JSON of a derivation. */
function derivationDigest(derivation: Derivation): string {
  return createHash('sha256')
    .update(canonicalJson(derivation) ?? '')
    .digest('hex');
}

const digests = new WeakMap<object, string>();

/** sha256 (hex) of the RFC 8785 JSON of {@link derivationConfig}: `crtrail.config_digest`, chained into every record. */
export function configDigest(config: CrtrailConfig): string {
  let digest = digests.get(config);
  if (digest === undefined) {
    digest = derivationDigest(derivationConfig(config));
    digests.set(config, digest);
  }
  return digest;
}

/**
 * A derivation read from elsewhere (an export's manifest) that is the one `digest` names and that
 * this code derives with; undefined otherwise. A match proves it is the configuration the records
 * were written with: their digest is chained.
 */
export function trustedDerivation(digest: string, value: unknown): Derivation | undefined {
  if (!isObject(value) || value.derivation !== DERIVATION_VERSION) return undefined;
  const d = value as unknown as Derivation;
  if (!Array.isArray(d.ignore_paths) || !isObject(d.actors) || !Array.isArray(d.critical)) return undefined;
  for (const k of ['tools', 'controllers', 'gitops', 'interactive'] as const)
    if (!Array.isArray(d.actors[k])) return undefined;
  return derivationDigest(d) === digest ? d : undefined;
}

/** The enrich functions read only `actors` and `critical` of a configuration. */
const asConfig = (d: Derivation): CrtrailConfig => ({ actors: d.actors, critical: d.critical }) as CrtrailConfig;

/** Every field {@link checkDerived} recomputes (`actor` = kind, name and tool). */
export const DERIVED_FIELDS = [
  'ops',
  'paths',
  'text',
  'patch',
  'kind',
  'baseline',
  'patch_type',
  'server_mutations',
  'critical',
  'critical_paths',
  'drift',
  'actor',
];

/** One derived field whose stored value is not what the verified facts give. */
export interface FieldEdit {
  field: string;
  stored: unknown;
  recomputed: unknown;
}

/** What {@link checkDerived} found: edits, and the fields it could not recompute, with why. */
export interface DerivedCheck {
  edits: FieldEdit[];
  /** Field → reason it could not be recomputed (counted by the verifier, never passed silently). */
  unchecked: Array<{ field: string; reason: string }>;
}

interface StoredChange {
  ops?: unknown;
  paths?: unknown;
  patch?: unknown;
  text?: unknown;
  kind?: unknown;
  baseline?: unknown;
  dry_run?: unknown;
  patch_type?: unknown;
  server_mutations?: unknown;
  critical?: unknown;
  critical_paths?: unknown;
  drift?: unknown;
  prev_state_hash?: unknown;
  gap?: unknown;
}

interface RecordView {
  kubernetes?: { audit?: unknown };
  crtrail?: { actor?: unknown; object?: unknown; change?: unknown; config_digest?: unknown };
}

/** The audit event as the record keeps it (chained): what the enricher read of it. */
function eventOf(audit: Record<string, unknown>): AuditEvent {
  return audit as unknown as AuditEvent;
}

/** The object the record is about, as the worker saw it: its response body, unless that is a Status. */
function objectOf(audit: Record<string, unknown>): KubeObject | undefined {
  const body = audit.responseObject;
  return isObject(body) && body.kind !== 'Status' ? (body as KubeObject) : undefined;
}

/**
 * Equality of JSON values as their canonical JSON would compare them (key order and members whose
 * value is undefined do not matter), without serializing: a create's ops are hundreds of values.
 */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => same(v, b[i]));
  if (!isObject(a) || !isObject(b) || Array.isArray(b))
    return typeof a === 'number' && typeof b === 'number' ? a === b : false;
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return (
    ka.length === kb.length &&
    ka.every((k) => b[k] !== undefined && Object.prototype.hasOwnProperty.call(b, k) && same(a[k], b[k]))
  );
}

/**
 * The ops the change engine gives this write, when every input is at hand: a create against
 * nothing (its leaves), a write against its predecessor's stored state (their diff), a delete of a
 * known state (the predecessor's leaves). Undefined when the engine read something the record does
 * not keep (a failed update's request, a patch document against an unknown state).
 */
function expectedOps(
  change: StoredChange,
  audit: Record<string, unknown>,
  object: KubeObject | undefined,
  previous: KubeObject | undefined,
  ignore: readonly string[],
): Op[] | undefined {
  const verb = audit.verb;
  const code = Number((audit.responseStatus as { code?: unknown } | undefined)?.code ?? 200);
  const sub = subresourceOf(audit);
  if (code >= 400 || !object) return undefined;
  // A server-side apply answered 201 created the object, like a create.
  if (change.baseline === 'none' && (verb === 'create' || (verb === 'patch' && code === 201)))
    return leaves(sanitize(object), 'add', ignore);
  // A scale write answers a Scale, not the object; another subresource's write changes no state.
  if (change.baseline !== 'known' || !previous || (sub !== undefined && sub !== 'status')) return undefined;
  // States of one object read through two served versions differ in apiVersion: no change.
  const same = [...ignore, '/apiVersion'];
  if (verb === 'delete' || verb === 'deletecollection') {
    const finalizers = object.metadata?.finalizers ?? [];
    return finalizers.length === 0 ? leaves(previous, 'remove', ignore) : diffValues(previous, sanitize(object), same);
  }
  const ops = diffValues(previous, sanitize(object), same);
  return sub === 'status' ? ops.filter((o) => o.path === '/status' || o.path.startsWith('/status/')) : ops;
}

function subresourceOf(audit: Record<string, unknown>): string | undefined {
  const ref = isObject(audit.objectRef) ? audit.objectRef : {};
  return typeof ref.subresource === 'string' ? ref.subresource : undefined;
}

/**
 * What the server changed compared with what the client sent, as the change engine computes it:
 * a patch's document applied to its predecessor's state against what was stored (none for an
 * apply, a failure, an unknown predecessor), nothing for verbs that send no object. A create's or
 * update's request body is not stored, so its server mutations are only checked to be in the
 * stored response body (the op returned is one that is not).
 */
function serverMutations(
  change: StoredChange,
  audit: Record<string, unknown>,
  object: KubeObject | undefined,
  previous: KubeObject | undefined,
  previousUnknown: boolean,
  ignore: readonly string[],
): Op[] | Op | 'waits' | undefined {
  const verb = audit.verb;
  const code = Number((audit.responseStatus as { code?: unknown } | undefined)?.code ?? 200);
  if (code >= 400) return [];
  if (verb === 'create' || verb === 'update') {
    // Not an array at all: compared with "none", so a removed field is reported too.
    if (!Array.isArray(change.server_mutations)) return [];
    const stored = change.server_mutations as Op[];
    if (!object) return stored.length === 0 ? undefined : stored[0];
    const wrong = stored.find((o) => (o.op === 'add' || o.op === 'replace') && !same(valueAt(object, o.path), o.new));
    return wrong ?? undefined;
  }
  if (verb !== 'patch') return [];
  const type = change.patch_type;
  const sub = subresourceOf(audit);
  if (object && code === 201 && isObject(audit.requestObject)) {
    // Server-side apply creating: the apply configuration against the stored object (`.status` is dropped on create).
    return diffValues(sanitize(audit.requestObject as KubeObject), sanitize(object), [
      ...ignore,
      '/apiVersion',
      '/status',
    ]);
  }
  if (!object || (type !== 'json' && type !== 'merge') || change.baseline !== 'known' || sub === 'scale') return [];
  if (!previous) return previousUnknown ? 'waits' : [];
  try {
    const expected =
      type === 'json'
        ? applyJsonPatch(previous, audit.requestObject as unknown[])
        : applyMergePatch(previous, audit.requestObject);
    const ops = diffValues(expected, sanitize(object), [...ignore, '/apiVersion']);
    return sub === 'status' ? ops.filter((o) => o.path === '/status' || o.path.startsWith('/status/')) : ops;
  } catch {
    return [];
  }
}

function valueAt(doc: unknown, pointer: string): unknown {
  let node: unknown = doc;
  for (const key of parsePointer(pointer, { strict: false })) {
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isObject(node)) node = node[key];
    else return undefined;
  }
  return node;
}

/**
 * Recomputes a record's derived fields from facts that are themselves verified — its chained
 * event and bodies, its ops (checked against those bodies), its predecessor's chained state — and
 * the configuration whose digest the record carries, and compares them with what is stored.
 *
 * `previous` is the predecessor's stored state (its chained response body) when the walk has it;
 * `'unknown'` when the record names one (`prev_state_hash`) that is not at hand.
 * `derivation` is undefined when the record's configuration was not given: the fields that depend on
 * it are then reported unchecked (with `configReason`).
 */
export function checkDerived(
  record: RecordView,
  derivation: Derivation | undefined,
  configReason: string,
  previousBody: Record<string, unknown> | 'unknown' | undefined,
): DerivedCheck {
  const out: DerivedCheck = { edits: [], unchecked: [] };
  const audit = record.kubernetes?.audit;
  const change = record.crtrail?.change as StoredChange | undefined;
  if (!isObject(audit) || !isObject(change)) return out;
  const compare = (field: string, stored: unknown, recomputed: unknown): void => {
    if (!same(stored, recomputed)) out.edits.push({ field: `crtrail.change.${field}`, stored, recomputed });
  };
  const ops = Array.isArray(change.ops) ? (change.ops as Op[]) : undefined;
  if (!ops) {
    out.edits.push({ field: 'crtrail.change.ops', stored: change.ops, recomputed: '[…]' });
    return out;
  }
  const event = eventOf(audit);
  const object = objectOf(audit);
  const ref = isObject(audit.objectRef) ? audit.objectRef : {};
  const verb = typeof audit.verb === 'string' ? audit.verb : '';
  const subresource = typeof ref.subresource === 'string' ? ref.subresource : undefined;
  const code = Number((audit.responseStatus as { code?: unknown } | undefined)?.code ?? 200);
  const previous = isObject(previousBody) ? sanitize(previousBody as KubeObject) : undefined;

  // The change engine's fields: functions of the ops, the verb and the baseline.
  const paths = pathsOf(ops);
  compare('paths', change.paths, paths);
  // The text shows values as canonical JSON, so key order (which Elasticsearch changes on updates) does not matter.
  compare('text', change.text, opsText(ops));
  compare('patch', change.patch, toJsonPatch(ops));
  // The baseline is not chained either, but it is tied to facts: a known one names its
  // predecessor's state, an unknown one has no old values to show, and only a create has none.
  const named = typeof change.prev_state_hash === 'string';
  const deletes = verb === 'delete' || verb === 'deletecollection';
  if (change.baseline === 'known' && !named)
    out.edits.push({
      field: 'crtrail.change.prev_state_hash',
      stored: change.prev_state_hash ?? null,
      recomputed: 'the state hash of its predecessor (baseline known)',
    });
  else if (change.baseline !== 'known' && named)
    out.edits.push({ field: 'crtrail.change.baseline', stored: change.baseline, recomputed: 'known' });
  else if (change.baseline === 'none' && verb !== 'create' && !(verb === 'patch' && code === 201))
    out.edits.push({ field: 'crtrail.change.baseline', stored: 'none', recomputed: 'unknown' });
  // After a gap (`gap: true`) a full body is compared with the last state seen: old values, baseline unknown.
  else if (
    change.baseline === 'unknown' &&
    !deletes &&
    change.gap !== true &&
    ops.some((o) => isObject(o) && 'old' in o)
  )
    out.edits.push({
      field: 'crtrail.change.baseline',
      stored: 'unknown',
      recomputed: 'known (its ops carry old values)',
    });
  compare(
    'kind',
    change.kind,
    classifyKind(ops, outcomeOf({ verb, code, subresource, response: audit.responseObject }, ops)),
  );
  if (verb === 'patch') compare('patch_type', change.patch_type ?? null, patchTypeOf(event, object) ?? null);

  // The enricher's fields: they depend on the configuration too.
  if (!derivation) {
    for (const field of ['ops', 'server_mutations', 'critical', 'critical_paths', 'drift', 'actor'])
      out.unchecked.push({ field, reason: configReason });
    return out;
  }
  const config = asConfig(derivation);
  const ignore = derivation.ignore_paths;
  const waitsFor = (field: string): void => {
    out.unchecked.push({ field, reason: 'predecessor not in this walk' });
  };

  // Completeness of the ops: an op removed with its paths, text and criticality is caught here.
  const expected = expectedOps(change, audit, object, previous, ignore);
  if (expected) {
    if (!same(ops, expected)) {
      const have = new Set(ops.map((o) => `${o.op} ${o.path}`));
      const lost = expected.filter((o) => !have.has(`${o.op} ${o.path}`)).map((o) => `${o.op} ${o.path}`);
      out.edits.push({
        field: 'crtrail.change.ops',
        stored: `${ops.length} ops`,
        recomputed: `${expected.length} ops${lost.length ? ` (${lost.slice(0, 3).join(', ')}${lost.length > 3 ? ', …' : ''} left out)` : ''}`,
      });
    }
  } else if (change.baseline === 'known' && previousBody === 'unknown' && code < 400 && object) waitsFor('ops');

  const server = serverMutations(change, audit, object, previous, previousBody === 'unknown', ignore);
  if (server === 'waits') waitsFor('server_mutations');
  else if (Array.isArray(server)) compare('server_mutations', change.server_mutations, server);
  else if (server !== undefined)
    out.edits.push({
      field: 'crtrail.change.server_mutations',
      stored: `${server.op} ${server.path}`,
      recomputed: 'not in the stored response body',
    });

  const actor = classifyActor(event, object, config);
  const actorField = record.crtrail?.actor;
  const storedActor = (isObject(actorField) ? actorField : {}) as Record<string, unknown>;
  for (const k of ['kind', 'name', 'tool'] as const) {
    if (storedActor[k] !== actor[k])
      out.edits.push({ field: `crtrail.actor.${k}`, stored: storedActor[k], recomputed: actor[k] });
  }

  // Criticality: the paths against the rules that apply to this kind of object. The kind is the
  // object's own, or (a failed write answers a Status) its predecessor's.
  const objectField = record.crtrail?.object;
  const target = isObject(objectField) ? (objectField as Record<string, unknown>) : {};
  let kind = typeof target.kind === 'string' ? target.kind : undefined;
  if (kind === undefined && previous && typeof previous.kind === 'string') kind = previous.kind;
  const group = typeof ref.apiGroup === 'string' ? ref.apiGroup : '';
  const resource = typeof ref.resource === 'string' ? ref.resource : undefined;
  const kindMatters =
    kind === undefined &&
    named &&
    paths.length > 0 &&
    config.critical.some(
      (r) =>
        r.kind && appliesTo({ group: r.group, ...(r.resource ? { resource: r.resource } : {}) }, { group, resource }),
    );
  if (kindMatters) {
    waitsFor('critical');
  } else {
    const critical = criticalFor({ group, resource, kind }, { kind: String(change.kind), paths }, config);
    compare('critical', change.critical, critical.length > 0);
    compare('critical_paths', change.critical_paths, critical);
  }

  // Drift reads the predecessor only to ask whether GitOps manages it: when the answer cannot
  // change the result (a GitOps write, a status write, the new state managed anyway…), it is not needed.
  const storedKind = typeof storedActor.kind === 'string' ? (storedActor.kind as ActorKind) : actor.kind;
  const driftActor = {
    kind: storedKind,
    name: String(storedActor.name ?? actor.name),
    tool: String(storedActor.tool ?? actor.tool),
  };
  const driftChange = { kind: String(change.kind), dry_run: change.dry_run === true, paths };
  const succeeded = code < 400;
  const drift = (prev: KubeObject | undefined, next: KubeObject | undefined): boolean =>
    detectDrift(prev, next, driftActor, driftChange, succeeded, config);
  const managed: KubeObject = { metadata: { labels: { 'argocd.argoproj.io/instance': '?' } } };
  const needsPrevious = named && !previous && drift(undefined, object) !== drift(managed, object);
  if (needsPrevious) {
    waitsFor('drift');
  } else {
    // A repair re-enriches from the history, which keeps states without managedFields: either reading is the worker's.
    const a = drift(previous, object);
    const b = drift(previous, object && sanitize(object));
    if (change.drift !== a && change.drift !== b)
      out.edits.push({ field: 'crtrail.change.drift', stored: change.drift, recomputed: a });
  }
  return out;
}
