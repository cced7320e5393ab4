import type { Op } from './ops.js';

export type ChangeKind = 'create' | 'delete' | 'spec' | 'status' | 'metadata' | 'mixed' | 'noop';

/**
 * The change class of one record (`crtrail.change.kind`), so Kibana and alerts can filter noise.
 *
 * create/delete by verb (a delete held by finalizers is a delete too: it is the user's intent;
 * deletecollection items are deletes). A `status` subresource write is `status` whatever its ops
 * show (the apiserver applies only `.status` there; other paths in its diff can only come from
 * writes we missed), `noop` when nothing changed. Otherwise by the top-level field of the changed
 * paths: only `/status` → status, only `/metadata` → metadata, anything else (spec, data, …) →
 * spec; several → mixed; none → noop, except that a write with an unknown baseline and nothing to
 * show is not claimed to be a no-op (we cannot know): it is classed by its subresource.
 */
export function classifyKind(verb: string, subresource: string | undefined, ops: Op[], baseline: string): ChangeKind {
  if (verb === 'create') return 'create';
  if (verb === 'delete' || verb === 'deletecollection') return 'delete';
  if (subresource === 'status') return ops.length > 0 || baseline === 'unknown' ? 'status' : 'noop';
  const classes = new Set<string>();
  for (const o of ops) {
    const top = o.path.split('/')[1] ?? '';
    classes.add(top === 'status' ? 'status' : top === 'metadata' ? 'metadata' : 'spec');
  }
  if (classes.size === 0) return baseline === 'unknown' ? 'spec' : 'noop';
  if (classes.size > 1) return 'mixed';
  return [...classes][0] as ChangeKind;
}
