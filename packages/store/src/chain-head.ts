import type { Client } from '@elastic/elasticsearch';

/** Where a cluster's hash chain ends: the seq and hash of its last link. */
export interface StoredChainHead {
  seq: number;
  hash: string;
}

/**
 * The last link of a cluster's chain as stored in Elasticsearch (after a refresh, so the newest
 * writes are seen), or undefined if it has none yet. The worker continues the chain from it when
 * Redis has lost the head (a restart without persistence).
 */
export async function storedChainHead(
  es: Client,
  alias: string,
  cluster: string,
): Promise<StoredChainHead | undefined> {
  await es.indices.refresh({ index: alias, ignore_unavailable: true });
  const res = await es.search<{ crtrail?: { integrity?: StoredChainHead } }>({
    index: alias,
    size: 1,
    query: {
      bool: {
        filter: [{ term: { 'orchestrator.cluster.name': cluster } }, { exists: { field: 'crtrail.integrity.seq' } }],
      },
    },
    sort: [{ 'crtrail.integrity.seq': 'desc' }],
    _source: ['crtrail.integrity'],
    ignore_unavailable: true,
  });
  const link = res.hits.hits[0]?._source?.crtrail?.integrity;
  return link ? { seq: link.seq, hash: link.hash } : undefined;
}
