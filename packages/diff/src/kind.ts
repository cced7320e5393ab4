import type { Op } from './ops.js';

export type ChangeKind = 'create' | 'delete' | 'spec' | 'status' | 'metadata' | 'mixed' | 'noop';

/** What a write did to the object's existence: created it, removed it, or neither. */
export type Outcome = 'create' | 'delete' | undefined;

/**
 * The change class of one record (`crtrail.change.kind`), so Kibana and alerts can filter noise.
 *
 * `create` / `delete` by what the write did to the object: a create, a PATCH answered 201 (server-
 * side apply creating); a delete that removed it, a deletecollection item, the write removing the
 * last finalizer of an object being deleted. A DELETE held by finalizers removed nothing: it is
 * classed by its ops (`metadata`: it set `deletionTimestamp`). Everything else follows the ops
 * actually recorded, by the top-level field of their paths: only `/status` → status, only
 * `/metadata` → metadata, anything else (spec, data, …) → spec; several → mixed; none → noop. So
 * a kind never claims what the ops do not show; `noop` with `baseline: unknown` means nothing was
 * shown (a write logged without bodies), not that nothing changed.
 */
export function classifyKind(ops: Op[], outcome?: Outcome): ChangeKind {
  if (outcome) return outcome;
  const classes = new Set<string>();
  for (const o of ops) {
    const top = o.path.split('/')[1] ?? '';
    classes.add(top === 'status' ? 'status' : top === 'metadata' ? 'metadata' : 'spec');
  }
  if (classes.size === 0) return 'noop';
  if (classes.size > 1) return 'mixed';
  return [...classes][0] as ChangeKind;
}

/** What {@link outcomeOf} reads of a write: facts every record keeps (verb, response code, subresource, response body). */
export interface WriteFacts {
  verb: string;
  code: number;
  subresource?: string | undefined;
  /** The response body (for a deletecollection record: its item). */
  response: unknown;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Whether a write created or removed its object, from the facts of its record alone, as the change
 * engine decides it (so `verify` can recompute `kind` as `classifyKind(ops, outcomeOf(...))`).
 * `ops`: a failed create with nothing to show is not classed `create`.
 */
export function outcomeOf(w: WriteFacts, ops: Op[]): Outcome {
  // A subresource the engine does not follow changes no state.
  if (w.subresource !== undefined && w.subresource !== 'status' && w.subresource !== 'scale') return undefined;
  if (w.verb === 'create') return w.code >= 400 && ops.length === 0 ? undefined : 'create';
  if (w.code >= 400) return undefined;
  if (w.verb === 'patch' && w.code === 201) return 'create';
  const object = isMap(w.response) && w.response.kind !== 'Status' ? w.response : undefined;
  const metadata = object?.metadata;
  const meta = isMap(metadata) ? metadata : undefined;
  const listed = meta?.finalizers;
  const finalizers: unknown[] = Array.isArray(listed) ? listed : [];
  if (w.verb === 'delete' || w.verb === 'deletecollection')
    return object && finalizers.length > 0 ? undefined : 'delete';
  const rv = meta?.resourceVersion;
  if (
    w.subresource !== 'scale' &&
    typeof rv === 'string' &&
    rv !== '' &&
    meta?.deletionTimestamp &&
    finalizers.length === 0
  )
    return 'delete';
  return undefined;
}
