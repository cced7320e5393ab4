import type { Op } from './ops.js';

export type ChangeKind = 'create' | 'delete' | 'spec' | 'status' | 'metadata' | 'mixed' | 'noop';

/**
 * create/delete by verb (a delete held by finalizers is a delete too: it is the user's intent);
 * otherwise by the top-level field of the changed paths: only `/status` → status, only `/metadata`
 * → metadata, anything else (spec, data, …) → spec; several → mixed; none → noop, except that a
 * write with an unknown baseline and nothing to show is not claimed to be a no-op.
 */
export function classifyKind(verb: string, subresource: string | undefined, ops: Op[], baseline: string): ChangeKind {
  if (verb === 'create') return 'create';
  if (verb === 'delete' || verb === 'deletecollection') return 'delete';
  const classes = new Set<string>();
  for (const o of ops) {
    const top = o.path.split('/')[1] ?? '';
    classes.add(top === 'status' ? 'status' : top === 'metadata' ? 'metadata' : 'spec');
  }
  if (classes.size === 0) {
    if (baseline === 'unknown') return subresource === 'status' ? 'status' : 'spec';
    return 'noop';
  }
  if (classes.size > 1) return 'mixed';
  return [...classes][0] as ChangeKind;
}
