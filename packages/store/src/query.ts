import type { estypes } from '@elastic/elasticsearch';
import { pathToPointer } from '@crtrail/audit';

/** The filters shared by `crtrail changes` and `crtrail export`. */
export interface RecordFilters {
  cluster?: string;
  group?: string;
  resource?: string;
  /** The object's kind (`Certificate`), case-insensitive. */
  kind?: string;
  namespace?: string;
  /** Prefix of the object's name (`web` finds `web` and `web-2`). */
  name?: string;
  /** Prefix of the effective actor (`crtrail.actor.name`) or of the authenticated username, case-insensitive. */
  actor?: string;
  /** A changed field, as a JSON pointer (`/spec/replicas`) or a dot path (`spec.replicas`); the field or anything under it. */
  path?: string;
  /** The request's verb (`event.action`): create, update, patch, delete, deletecollection. */
  verb?: string;
  since?: string;
  until?: string;
  critical?: boolean;
  drift?: boolean;
  /** Only failed attempts (`event.outcome: failure`: denied, conflicting, invalid). */
  failed?: boolean;
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
  term('event.action', f.verb);
  if (f.kind !== undefined) filter.push({ term: { 'crtrail.object.kind': { value: f.kind, case_insensitive: true } } });
  if (f.name !== undefined) filter.push({ prefix: { 'kubernetes.audit.objectRef.name': { value: f.name } } });
  if (f.critical) term('crtrail.change.critical', true);
  if (f.drift) term('crtrail.change.drift', true);
  if (f.failed) term('event.outcome', 'failure');
  if (f.path !== undefined) {
    // Typed on a command line (`changes --path`): stray dots and a trailing slash are forgiven, and
    // there is no `[*]` (a prefix query already covers every index).
    const pointer = pathToPointer(f.path, { wildcardIndex: false, lenient: true });
    filter.push({
      bool: {
        should: [
          { term: { 'crtrail.change.paths': pointer } },
          { prefix: { 'crtrail.change.paths': { value: pointer === '/' ? '/' : `${pointer}/` } } },
        ],
        minimum_should_match: 1,
      },
    });
  }
  if (f.actor !== undefined) {
    filter.push({
      bool: {
        should: [
          { prefix: { 'crtrail.actor.name': { value: f.actor, case_insensitive: true } } },
          { prefix: { 'kubernetes.audit.user.username': { value: f.actor, case_insensitive: true } } },
        ],
        minimum_should_match: 1,
      },
    });
  }
  if (f.since || f.until) {
    filter.push({
      range: { '@timestamp': { ...(f.since ? { gte: f.since } : {}), ...(f.until ? { lt: f.until } : {}) } },
    });
  }
  return { bool: { filter } };
}
