import { createHmac } from 'node:crypto';
import { canonicalJson, isObject, parsePointer, pathTokens, type AuditEvent, type KubeObject } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';
import { re } from './actor.js';
import { bodyKind, groupOfApiVersion, resourceNames, type KindTable } from './kinds.js';

const REDACTED = /^sha256:[0-9a-f]{64}$/;

/** Client-side `kubectl apply` copies the whole applied object, secrets included, into this annotation. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const LAST_APPLIED_PATH = ['metadata', 'annotations', LAST_APPLIED];

/** Whether a value is a redaction hash (`sha256:` + 64 hex digits). */
function isRedacted(value: unknown): boolean {
  return typeof value === 'string' && REDACTED.test(value);
}

/**
 * `sha256:<HMAC-SHA256(salt, canonical JSON of the value)>`: equal values give equal hashes (a
 * change stays visible as a changed hash), but without the salt — which is never stored beside the
 * data — the value cannot be recovered or guessed by hashing candidates.
 */
export function redactValue(value: unknown, salt: string, memo?: Map<string, string>): string {
  if (typeof value === 'string' && isRedacted(value)) return value; // already redacted (idempotent)
  const text = canonicalJson(value) ?? 'null';
  let hash = memo?.get(text);
  if (hash === undefined) {
    hash = `sha256:${createHmac('sha256', salt).update(text).digest('hex')}`;
    memo?.set(text, hash);
  }
  return hash;
}

/** What to redact in objects of one group/resource: pointer segments (`*` = any key or index). */
type Paths = readonly (readonly string[])[];

const insensitive = new Map<string, RegExp>();
/** A secret-like kind pattern matched against a lower-case resource name. */
function reI(source: string): RegExp {
  let r = insensitive.get(source);
  if (!r) insensitive.set(source, (r = new RegExp(source, 'i')));
  return r;
}

const SECRET_MAPS: Paths = [
  ['data', '*'],
  ['stringData', '*'],
];

/**
 * Paths to redact for a group/resource whose kind is one of `kinds` (possibly none known). When
 * in doubt this redacts: a configured kind or a secret-like pattern also matches the resource's
 * own name (singular or plural), and a rule naming a resource applies when no kind is known.
 */
function pathsFor(group: string, resource: string, kinds: readonly string[], config: CrtrailConfig): Paths {
  const names = resourceNames(resource);
  const paths: string[][] = [];
  for (const rule of config.redaction.paths) {
    if (rule.group !== group) continue;
    if (rule.resource && rule.resource !== resource) continue;
    const kindOk =
      !rule.kind ||
      kinds.includes(rule.kind) ||
      names.includes(rule.kind.toLowerCase()) ||
      (Boolean(rule.resource) && kinds.length === 0);
    if (kindOk) paths.push(...rule.paths.map(pathTokens));
  }
  const secretLike = config.redaction.secretLikeKinds.some(
    (p) => kinds.some((k) => re(p).test(k)) || names.some((n) => reI(p).test(n)),
  );
  if (secretLike) paths.push(...SECRET_MAPS.map((p) => [...p]));
  return paths;
}

const MAX_CACHED = 10_000;
const pathCache = new WeakMap<CrtrailConfig, Map<string, Paths>>();
/** {@link pathsFor}, remembered per config: this runs on every custom-resource event. */
function cachedPathsFor(group: string, resource: string, kinds: readonly string[], config: CrtrailConfig): Paths {
  let cache = pathCache.get(config);
  if (!cache) pathCache.set(config, (cache = new Map()));
  const key = `${group}\n${resource}\n${[...kinds].sort().join(',')}`;
  let paths = cache.get(key);
  if (!paths) {
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(key, (paths = pathsFor(group, resource, kinds, config)));
  }
  return paths;
}

/**
 * The salt, and the plaintext strings hashed so far in this event: a refused write's `Status`
 * message may quote the value it refused (`Invalid value: "…"`), so those are scrubbed from it.
 */
interface Ctx {
  salt: string;
  seen: Set<string>;
  /** Hashes made in this event by canonical text: one secret is in the request, the response and both annotations. */
  memo: Map<string, string>;
}

/** Shorter values are not looked for in Status messages (they would match ordinary words). */
const MIN_SCRUBBED = 4;

function collect(value: unknown, seen: Set<string>): void {
  if (typeof value === 'string') {
    if (value.length >= MIN_SCRUBBED && !isRedacted(value)) seen.add(value);
  } else if (Array.isArray(value)) for (const v of value) collect(v, seen);
  else if (isObject(value)) for (const v of Object.values(value)) collect(v, seen);
}

function hashIn(ctx: Ctx): (v: unknown) => string {
  return (v) => {
    collect(v, ctx.seen);
    return redactValue(v, ctx.salt, ctx.memo);
  };
}

/** Hashes what `segments` reach in `node`; returns `node` itself when nothing changed. */
function redactAt(node: unknown, segments: readonly string[], ctx: Ctx, leaf: (v: unknown) => unknown): unknown {
  if (node === null || node === undefined) return node;
  if (segments.length === 0) return leaf(node);
  const [head, ...rest] = segments as [string, ...string[]];
  if (Array.isArray(node)) {
    if (head === '*') {
      let changed = false;
      const out = node.map((v) => {
        const r = redactAt(v, rest, ctx, leaf);
        if (r !== v) changed = true;
        return r;
      });
      return changed ? out : node;
    }
    const i = Number(head);
    if (!Number.isInteger(i) || !(i in node)) return node;
    const r = redactAt(node[i], rest, ctx, leaf);
    if (r === node[i]) return node;
    const copy = [...node];
    copy[i] = r;
    return copy;
  }
  // A scalar where a map was expected (`data: "…"`): hashed whole rather than left in clear.
  if (!isObject(node)) return head === '*' ? hashIn(ctx)(node) : node;
  if (head === '*') {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      const r = redactAt(v, rest, ctx, leaf);
      if (r !== v) changed = true;
      out[k] = r;
    }
    return changed ? out : node;
  }
  if (!Object.prototype.hasOwnProperty.call(node, head) || node[head] === undefined) return node;
  const r = redactAt(node[head], rest, ctx, leaf);
  return r === node[head] ? node : { ...node, [head]: r };
}

/**
 * The last-applied annotation is the applied object as a JSON string: parsed, redacted with the
 * same paths, written back as a string (its trailing newline kept). Text that does not parse could
 * hold anything: hashed whole.
 */
function redactLastApplied(value: unknown, paths: Paths, ctx: Ctx): unknown {
  if (typeof value !== 'string') return value === null || value === undefined ? value : hashIn(ctx)(value);
  if (isRedacted(value)) return value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return hashIn(ctx)(value);
  }
  if (!isObject(parsed)) return hashIn(ctx)(value);
  const redacted = redactObject(parsed, paths, ctx);
  if (redacted === parsed) return value;
  return `${JSON.stringify(redacted)}${value.endsWith('\n') ? '\n' : ''}`;
}

/** An object (or a merge patch / apply configuration shaped like one) with its secret values hashed. */
function redactObject(obj: unknown, paths: Paths, ctx: Ctx): unknown {
  let out = obj;
  const hash = hashIn(ctx);
  for (const p of paths) out = redactAt(out, p, ctx, hash);
  return redactAt(out, LAST_APPLIED_PATH, ctx, (v) => redactLastApplied(v, paths, ctx));
}

/** Whether the first min(a, b) segments agree (`*` in the pattern matches any segment). */
function prefixMatch(written: readonly string[], pattern: readonly string[]): boolean {
  const n = Math.min(written.length, pattern.length);
  for (let i = 0; i < n; i++) if (pattern[i] !== '*' && pattern[i] !== written[i]) return false;
  return true;
}

/**
 * A value a JSON Patch op writes at `written`: hashed whole when it lands at or under a redacted
 * path (`add /data/password`), redacted inside when it lands above one (`add /data {…}`, `add
 * /metadata {annotations: …}`, `add "" {…}`), left alone elsewhere. The op's path stays: the key
 * written is visible, its value is not.
 */
function redactWritten(value: unknown, written: readonly string[], paths: Paths, ctx: Ctx): unknown {
  if (value === null || value === undefined) return value;
  let out: unknown = value;
  const hash = hashIn(ctx);
  for (const p of paths) {
    if (!prefixMatch(written, p)) continue;
    out = written.length >= p.length ? hash(out) : redactAt(out, p.slice(written.length), ctx, hash);
    if (isRedacted(out)) return out;
  }
  if (prefixMatch(written, LAST_APPLIED_PATH)) {
    if (written.length > LAST_APPLIED_PATH.length) return hash(out); // inside a string: not JSON Patch, hash it
    const lastApplied = (v: unknown): unknown => redactLastApplied(v, paths, ctx);
    out =
      written.length === LAST_APPLIED_PATH.length
        ? lastApplied(out)
        : redactAt(out, LAST_APPLIED_PATH.slice(written.length), ctx, lastApplied);
  }
  return out;
}

function redactJsonPatch(ops: unknown[], paths: Paths, ctx: Ctx): unknown[] {
  let changed = false;
  const out = ops.map((op) => {
    if (!isObject(op) || typeof op.path !== 'string' || !('value' in op)) return op;
    const value = redactWritten(op.value, parsePointer(op.path), paths, ctx);
    if (value === op.value) return op;
    changed = true;
    return { ...op, value };
  });
  return changed ? out : ops;
}

/** The kind named inside a last-applied annotation of `body`, when it is of `group`. */
function lastAppliedKind(body: unknown, group: string): string | undefined {
  const text =
    isObject(body) && isObject(body.metadata) && isObject(body.metadata.annotations)
      ? body.metadata.annotations[LAST_APPLIED]
      : undefined;
  if (typeof text !== 'string') return undefined;
  try {
    return bodyKind(JSON.parse(text), group);
  } catch {
    return undefined;
  }
}

/**
 * Every kind this event's object may be of. The objectRef decides first (the table learned from
 * earlier bodies and CRDs); the event's own bodies can only add kinds, never remove one — a failed
 * write answers a `Status`, a merge patch names no kind, and neither may switch redaction off.
 */
function candidateKinds(event: AuditEvent, group: string, resource: string, kinds: KindTable | undefined): string[] {
  const out = new Set(kinds?.kindsOf(group, resource) ?? []);
  const add = (k: string | undefined): void => {
    if (k) out.add(k);
  };
  for (const body of [event.requestObject, event.responseObject]) {
    add(bodyKind(body, group));
    if (isObject(body) && Array.isArray(body.items)) {
      const list = bodyKind(body, group);
      if (list?.endsWith('List')) add(list.slice(0, -4));
      for (const item of body.items) add(bodyKind(item, group));
    }
  }
  // kubectl's merge patch of an existing object carries its kind only inside the annotation.
  if (out.size === 0) add(lastAppliedKind(event.requestObject, group));
  return [...out];
}

/** The paths redacted for this event (empty: nothing secret in it). */
function eventPaths(event: AuditEvent, config: CrtrailConfig, kinds: KindTable | undefined): Paths {
  const ref = event.objectRef ?? {};
  const group = ref.apiGroup ?? '';
  const resource = ref.resource ?? '';
  return cachedPathsFor(group, resource, candidateKinds(event, group, resource, kinds), config);
}

/**
 * The event with every secret value replaced by its salted hash: configured paths per
 * group/kind/resource and, for Secret-like kinds, each value of `data`/`stringData` (keys stay
 * visible: `/data/password: sha256:… → sha256:…`). Reaches the request (object, JSON Patch, merge
 * patch, apply configuration), the response, each item of a deletecollection List, and the
 * last-applied annotation inside any of them. What is secret is decided from the objectRef through
 * `kinds` (see {@link KindTable}) and the resource name, not from the response body. Idempotent:
 * a hash is never hashed again. Events with nothing to redact are returned as they are (no copy).
 */
export function redactEvent(event: AuditEvent, config: CrtrailConfig, salt: string, kinds?: KindTable): AuditEvent {
  const paths = eventPaths(event, config, kinds);
  if (paths.length === 0) return event;
  const ctx: Ctx = { salt, seen: new Set(), memo: new Map() };
  const out: AuditEvent = { ...event };
  if (Array.isArray(event.requestObject)) out.requestObject = redactJsonPatch(event.requestObject, paths, ctx);
  else if (event.requestObject !== undefined) out.requestObject = redactBody(event.requestObject, paths, ctx);
  if (event.responseObject !== undefined) out.responseObject = redactBody(event.responseObject, paths, ctx);
  if (event.annotations) {
    const annotations = redactAdmissionPatches(event.annotations, paths, ctx);
    if (annotations !== event.annotations) out.annotations = annotations;
  }
  if (isObject(out.responseObject) && out.responseObject.kind === 'Status' && ctx.seen.size > 0)
    out.responseObject = scrub(out.responseObject, ctx);
  return out;
}

/** Prefix of the event annotations in which the apiserver logs each mutating webhook's JSON Patch. */
const ADMISSION_PATCH = 'patch.webhook.admission.k8s.io/';

/**
 * `patch.webhook.admission.k8s.io/round_0_index_0: {"webhook":…,"patch":[…],"patchType":"JSONPatch"}`:
 * a mutating webhook that injects a secret shows it here. Its patch is redacted like the request's;
 * text that does not parse is hashed whole.
 */
function redactAdmissionPatches(annotations: Record<string, string>, paths: Paths, ctx: Ctx): Record<string, string> {
  let out = annotations;
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(ADMISSION_PATCH) || typeof value !== 'string' || isRedacted(value)) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = undefined;
    }
    let next: string;
    if (isObject(parsed) && Array.isArray(parsed.patch)) {
      const patch = redactJsonPatch(parsed.patch, paths, ctx);
      if (patch === parsed.patch) continue;
      next = JSON.stringify({ ...parsed, patch });
    } else if (isObject(parsed) && parsed.patch === undefined) continue;
    else next = hashIn(ctx)(value);
    out = { ...out, [key]: next };
  }
  return out;
}

/** A body, or each item of a List body. */
function redactBody(body: unknown, paths: Paths, ctx: Ctx): unknown {
  if (isObject(body) && Array.isArray(body.items)) {
    const items = body.items.map((i) => redactObject(i, paths, ctx));
    return items.some((v, i) => v !== (body.items as unknown[])[i]) ? { ...body, items } : body;
  }
  return redactObject(body, paths, ctx);
}

/** Every string of a `Status` with the secrets hashed elsewhere in the event replaced by their hashes (longest first). */
function scrub(value: unknown, ctx: Ctx): unknown {
  if (typeof value === 'string') {
    let s = value;
    for (const secret of [...ctx.seen].sort((a, b) => b.length - a.length))
      if (s.includes(secret)) s = s.split(secret).join(redactValue(secret, ctx.salt, ctx.memo));
    return s;
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, ctx));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, ctx)]));
  return value;
}

/**
 * One stored object (a `crtrail baseline` import) redacted as its events would be, so the state
 * store never holds a secret and the first audited change compares hash with hash.
 */
export function redactStoredObject(
  object: KubeObject,
  resource: string,
  config: CrtrailConfig,
  salt: string,
  kinds?: KindTable,
): KubeObject {
  const group = groupOfApiVersion(object.apiVersion) ?? '';
  const known = [...(kinds?.kindsOf(group, resource) ?? [])];
  if (typeof object.kind === 'string') known.push(object.kind);
  const paths = cachedPathsFor(group, resource, known, config);
  return paths.length === 0
    ? object
    : (redactObject(object, paths, { salt, seen: new Set(), memo: new Map() }) as KubeObject);
}
