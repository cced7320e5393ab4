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
