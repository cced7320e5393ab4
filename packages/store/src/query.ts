import type { estypes } from '@elastic/elasticsearch';

/** The filters shared by `crtrail changes` and `crtrail export`. */
export interface RecordFilters {
  cluster?: string;
  group?: string;
  resource?: string;
  namespace?: string;
  name?: string;
  /** Effective actor name (`crtrail.actor.name`) or the authenticated username. */
  actor?: string;
  since?: string;
  until?: string;
  critical?: boolean;
}

/** A bool query over the record fields; `since`/`until` accept anything Elasticsearch date math does (`now-1h`, ISO times). */
export function recordQuery(f: RecordFilters): estypes.QueryDslQueryContainer {
  const filter: estypes.QueryDslQueryContainer[] = [];
  const term = (field: string, value: string | boolean | undefined): void => {
    if (value !== undefined) filter.push({ term: { [field]: value } });
  };
  term('orchestrator.cluster.name', f.cluster);
  term('kubernetes.audit.objectRef.apiGroup', f.group);
  term('kubernetes.audit.objectRef.resource', f.resource);
  term('kubernetes.audit.objectRef.namespace', f.namespace);
  term('kubernetes.audit.objectRef.name', f.name);
  if (f.critical) term('crtrail.change.critical', true);
  if (f.actor !== undefined) {
    filter.push({
      bool: {
        should: [{ term: { 'crtrail.actor.name': f.actor } }, { term: { 'kubernetes.audit.user.username': f.actor } }],
        minimum_should_match: 1,
      },
    });
  }
  if (f.since || f.until) {
    filter.push({ range: { '@timestamp': { ...(f.since ? { gte: f.since } : {}), ...(f.until ? { lt: f.until } : {}) } } });
  }
  return { bool: { filter } };
}
