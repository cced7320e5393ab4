import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@elastic/elasticsearch';

const POLL_MS = 500;
/** auditIDs asked about per search (a terms query of this many ids is well under ES's limits). */
const CHUNK = 1_000;

/** How many of `ids` (auditIDs of one cluster) have at least one record in `alias`. */
async function searchable(es: Client, alias: string, cluster: string, ids: string[]): Promise<number> {
  await es.indices.refresh({ index: alias, ignore_unavailable: true, allow_no_indices: true });
  let found = 0;
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const res = await es.search({
      index: alias,
      size: 0,
      ignore_unavailable: true,
      allow_no_indices: true,
      query: {
        bool: { filter: [{ term: { 'orchestrator.cluster.name': cluster } }, { terms: { 'event.id': chunk } }] },
      },
      aggs: { ids: { terms: { field: 'event.id', size: chunk.length } } },
    });
    found += ((res.aggregations?.ids as { buckets?: unknown[] } | undefined)?.buckets ?? []).length;
  }
  return found;
}

/**
 * Waits until every accepted custom-resource write has a record (the worker writes them after the
 * webhook's ack, so `changes` right after a replay could show nothing yet), or `timeoutMs` passes.
 * Returns how many are searchable.
 */
export async function waitForRecords(
  es: Client,
  alias: string,
  cluster: string,
  ids: Set<string>,
  timeoutMs: number,
  progress?: (line: string) => void,
): Promise<number> {
  const all = [...ids];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await searchable(es, alias, cluster, all);
    progress?.(`${found} of ${all.length} custom-resource writes searchable`);
    if (found >= all.length || Date.now() >= deadline) return found;
    await sleep(POLL_MS);
  }
}
