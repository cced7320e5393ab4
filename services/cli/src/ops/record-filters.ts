import type { RecordFilters } from '@crtrail/store';

/** The filter values of parsed options (what a manifest records; commander's other keys left out). */
export function pickFilters(opts: RecordFilters): Omit<RecordFilters, 'since' | 'until'> {
  const keys = [
    'cluster',
    'group',
    'resource',
    'kind',
    'namespace',
    'name',
    'actor',
    'path',
    'verb',
    'critical',
    'drift',
    'failed',
  ] as const;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (opts[k] !== undefined) out[k] = opts[k];
  return out as Omit<RecordFilters, 'since' | 'until'>;
}
