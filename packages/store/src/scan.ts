import type { Client, estypes } from '@elastic/elasticsearch';

export interface ScanOptions {
  index: string;
  query: estypes.QueryDslQueryContainer;
  /** Sort of the walk; `_shard_doc` is appended as the tiebreaker search_after needs. */
  sort: estypes.SortCombinations[];
  pageSize?: number;
  keepAlive?: string;
  /** Called once with the total number of matches (for a progress bar). */
  onTotal?: (total: number) => void;
}

export interface ScannedHit<T> {
  id: string;
  source: T;
}

/**
 * Every match of a query, in sort order, one page at a time: a point in time (so the walk sees one
 * consistent snapshot even while workers keep writing and repairs land) and search_after (no
 * deep-paging limit). Memory is one page, whatever the number of records.
 */
export async function* scanRecords<T>(es: Client, options: ScanOptions): AsyncGenerator<ScannedHit<T>> {
  const keepAlive = options.keepAlive ?? '2m';
  const pit = await es.openPointInTime({ index: options.index, keep_alive: keepAlive, ignore_unavailable: true });
  let pitId = pit.id;
  try {
    let after: estypes.SortResults | undefined;
    let first = true;
    for (;;) {
      const res = await es.search<T>({
        pit: { id: pitId, keep_alive: keepAlive },
        query: options.query,
        sort: [...options.sort, { _shard_doc: 'asc' }],
        size: options.pageSize ?? 1_000,
        track_total_hits: first,
        ...(after ? { search_after: after } : {}),
      });
      if (first && options.onTotal) {
        const total = res.hits.total;
        options.onTotal(typeof total === 'number' ? total : (total?.value ?? 0));
      }
      first = false;
      pitId = res.pit_id ?? pitId;
      const hits = res.hits.hits;
      for (const hit of hits) {
        if (hit._source === undefined) continue;
        // A search hit always carries its _id; the client's type has it optional.
        if (hit._id === undefined) throw new Error(`a search hit of ${options.index} has no _id`);
        yield { id: hit._id, source: hit._source };
      }
      if (hits.length === 0 || hits.length < (options.pageSize ?? 1_000)) return;
      after = hits[hits.length - 1]!.sort;
    }
  } finally {
    await es.closePointInTime({ id: pitId }).catch(() => {});
  }
}
