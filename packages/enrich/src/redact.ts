import { createHmac } from 'node:crypto';
import { canonicalJson, isObject, type AuditEvent } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';
import { appliesTo, dotPathSegments } from './critical.js';
import { re } from './actor.js';

const REDACTED = /^sha256:[0-9a-f]{64}$/;

/**
 * `sha256:<HMAC-SHA256(salt, canonical JSON of the value)>`: equal values give equal hashes (a
 * change stays visible as a changed hash), but without the salt — which is never stored beside the
 * data — the value cannot be recovered or guessed by hashing candidates.
 */
export function redactValue(value: unknown, salt: string): string {
  if (typeof value === 'string' && REDACTED.test(value)) return value; // already redacted (idempotent)
  return `sha256:${createHmac('sha256', salt).update(canonicalJson(value) ?? 'null').digest('hex')}`;
}

/** Pointer segments to redact in objects of this kind (`*` = any key or index). */
function redactedPaths(group: string, resource: string | undefined, kind: string | undefined, config: CrtrailConfig): string[][] {
  const paths = config.redaction.paths.filter((r) => appliesTo(r, { group, resource, kind })).flatMap((r) => r.paths.map(dotPathSegments));
  if (kind && config.redaction.secretLikeKinds.some((k) => re(k).test(kind))) paths.push(['data'], ['stringData']);
  return paths;
}

function redactAt(node: unknown, segments: string[], salt: string): unknown {
  if (segments.length === 0) return redactValue(node, salt);
  const [head, ...rest] = segments as [string, ...string[]];
  if (Array.isArray(node)) {
    if (head === '*') return node.map((v) => redactAt(v, rest, salt));
    const i = Number(head);
    if (!(i in node)) return node;
    const copy = [...node];
    copy[i] = redactAt(node[i], rest, salt);
    return copy;
  }
  if (!isObject(node)) return node;
  if (head === '*') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, redactAt(v, rest, salt)]));
  if (!(head in node) || node[head] === undefined) return node;
  return { ...node, [head]: redactAt(node[head], rest, salt) };
}

function redactObject(obj: unknown, paths: string[][], salt: string): unknown {
  let out = obj;
  for (const p of paths) out = redactAt(out, p, salt);
  return out;
}

/** JSON Patch ops: any value written at or under a redacted path is hashed. */
function redactJsonPatch(ops: unknown[], paths: string[][], salt: string): unknown[] {
  return ops.map((op) => {
    if (!isObject(op) || typeof op.path !== 'string' || !('value' in op)) return op;
    const segs = op.path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    for (const p of paths) {
      const n = Math.min(segs.length, p.length);
      let hit = true;
      for (let i = 0; i < n && hit; i++) if (p[i] !== '*' && p[i] !== segs[i]) hit = false;
      if (!hit) continue;
      // The op writes the redacted field itself or something under it: hash the value; writes above it redact inside.
      return { ...op, value: segs.length >= p.length ? redactValue(op.value, salt) : redactAt(op.value, p.slice(segs.length), salt) };
    }
    return op;
  });
}

function kindOf(v: unknown): string | undefined {
  return isObject(v) && typeof v.kind === 'string' ? v.kind : undefined;
}

/**
 * The event with every configured secret value replaced by its salted hash, in the request, the
 * response, and each item of a deletecollection List. Events of kinds with nothing to redact are
 * returned as they are (no copy): this runs on every custom-resource event.
 */
export function redactEvent(event: AuditEvent, config: CrtrailConfig, salt: string): AuditEvent {
  const ref = event.objectRef ?? {};
  const group = ref.apiGroup ?? '';
  const listItems = isObject(event.responseObject) && Array.isArray(event.responseObject.items) ? event.responseObject.items : undefined;
  const kind = kindOf(event.responseObject) ?? kindOf(event.requestObject) ?? kindOf(listItems?.[0]);
  const itemKind = (kind ?? '').endsWith('List') ? kindOf(listItems?.[0]) ?? kind?.slice(0, -4) : kind;
  const paths = redactedPaths(group, ref.resource, itemKind, config);
  // A merge patch or a PUT of a Secret-like kind may carry no `kind` at all: decide by resource too.
  if (paths.length === 0) return event;
  const out: AuditEvent = { ...event };
  if (Array.isArray(event.requestObject)) out.requestObject = redactJsonPatch(event.requestObject, paths, salt);
  else if (event.requestObject !== undefined) out.requestObject = redactObject(event.requestObject, paths, salt);
  if (listItems) out.responseObject = { ...(event.responseObject as object), items: listItems.map((i) => redactObject(i, paths, salt)) };
  else if (event.responseObject !== undefined) out.responseObject = redactObject(event.responseObject, paths, salt);
  return out;
}
