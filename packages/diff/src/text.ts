import { canonicalJson } from '@crtrail/audit';
import type { Op } from './ops.js';

/** Longest value shown in full in {@link opsText}; longer ones are cut and end with `…`. */
const MAX_TEXT_VALUE = 200;

function short(value: unknown): string {
  if (value === undefined) return '∅';
  // Canonical (RFC 8785) so the text is a function of the values, whatever key order they come back
  // in: Elasticsearch re-orders keys when a repair updates a record, and `verify` recomputes the text.
  const s = typeof value === 'string' ? value : (canonicalJson(value) ?? String(value));
  return s.length > MAX_TEXT_VALUE ? `${s.slice(0, MAX_TEXT_VALUE)}…` : s;
}

/**
 * One line per op, `path: old → new`: the searchable string form of values that are not mapped
 * (`crtrail.change.text`). Pure, so the worker that writes it and `verify` that recomputes it share it.
 */
export function opsText(ops: readonly Op[]): string {
  return ops.map((o) => `${o.path}: ${short(o.old)} → ${short(o.new)}`).join('\n');
}
