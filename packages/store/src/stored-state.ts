import type { Client } from '@elastic/elasticsearch';
import type { KubeObject, ObjectKey } from '@crtrail/audit';

/** Records looked at per object: the newest few by chain seq, of which the highest resourceVersion wins. */
const CANDIDATES = 5;

/** An object's state as stored by a write, and that write's time. */
export interface StoredState {
  object: KubeObject;
  at: string;
}

interface StateHit {
  '@timestamp'?: string;
  kubernetes?: { audit?: { verb?: string; responseObject?: KubeObject } };
  crtrail?: { state?: { after?: KubeObject } };
}

function objectQuery(key: ObjectKey): Record<string, unknown> {
  const term = (field: string, value: string) => ({ term: { [field]: value } });
  return {
    bool: {
      filter: [
        term('orchestrator.cluster.name', key.cluster),
        term('crtrail.object.group', key.group),
        term('crtrail.object.resource', key.resource),
        term('crtrail.object.name', key.name),
        term('event.outcome', 'success'),
        ...(key.namespace ? [term('crtrail.object.namespace', key.namespace)] : []),
      ],
      must_not: [
        ...(key.namespace ? [] : [{ exists: { field: 'crtrail.object.namespace' } }]),
        { term: { 'crtrail.change.dry_run': true } },
        // A scale write's body is an autoscaling/v1 Scale, not the custom resource.
        { term: { 'kubernetes.audit.objectRef.subresource': 'scale' } },
      ],
    },
  };
}

/** The stored object a record's write left behind, or undefined when the write removed it. */
function stateOf(hit: StateHit): KubeObject | undefined {
  const verb = hit.kubernetes?.audit?.verb;
  if (verb === 'deletecollection') return undefined;
  const object = hit.crtrail?.state?.after ?? hit.kubernetes?.audit?.responseObject;
  if (!object || typeof object !== 'object' || object.kind === 'Status') return undefined;
  const meta = object.metadata;
  if (!meta?.uid || !meta.resourceVersion) return undefined;
  // A delete answered with the object: still there only while finalizers hold it.
  if (verb === 'delete' && !(Array.isArray(meta.finalizers) && meta.finalizers.length > 0)) return undefined;
  return object;
}

const rvOf = (o: KubeObject): bigint => {
  const rv = String(o.metadata?.resourceVersion ?? '');
  return /^\d+$/.test(rv) ? BigInt(rv) : -1n;
};

/**
 * The newest stored state of each object as its records in Elasticsearch hold it (the response
 * body of its latest successful write), for objects whose history Redis no longer has (a new or
 * flushed Redis). One `msearch` for all of them; undefined where no record has a state (never
 * written, or deleted).
 */
export async function latestStoredStates(
  es: Client,
  alias: string,
  keys: ObjectKey[],
): Promise<Array<StoredState | undefined>> {
  if (keys.length === 0) return [];
  const searches = keys.flatMap((key) => [
    { index: alias },
    {
      query: objectQuery(key),
      size: CANDIDATES,
      sort: [
        { 'crtrail.integrity.seq': { order: 'desc', unmapped_type: 'long' } },
        { '@timestamp': { order: 'desc' } },
      ],
      _source: ['@timestamp', 'kubernetes.audit.verb', 'kubernetes.audit.responseObject', 'crtrail.state.after'],
    },
  ]);
  const res = await es.msearch<StateHit>({ searches });
  return res.responses.map((r, i) => {
    if ('error' in r)
      throw new Error(`looking up the stored state of ${keys[i]!.name} failed: ${JSON.stringify(r.error)}`);
    const newest = r.hits.hits[0]?._source;
    const state = newest ? stateOf(newest) : undefined;
    if (!newest || !state) return undefined;
    // Records are sealed in the order they were processed, which a late event can break: of the
    // newest few of the same object (uid), the highest resourceVersion is its current state.
    let best = { object: state, at: newest['@timestamp'] ?? new Date(0).toISOString() };
    for (const h of r.hits.hits.slice(1)) {
      const source = h._source;
      const other = source ? stateOf(source) : undefined;
      if (source && other && other.metadata?.uid === best.object.metadata?.uid && rvOf(other) > rvOf(best.object))
        best = { object: other, at: source['@timestamp'] ?? best.at };
    }
    return best;
  });
}
