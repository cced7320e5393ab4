import type { Client, estypes } from '@elastic/elasticsearch';
import { loadEnv } from '@crtrail/config';
import {
  createEsClient,
  esConnectionFromEnv,
  indexNames,
  recordQuery,
  shownEsUrl,
  type ChangeRecordDoc,
  type RecordFilters,
} from '@crtrail/store';
import { CliError } from '../errors.js';

/** Records fetched per search: pages follow with search_after, so `--limit` may pass Elasticsearch's 10,000 window. */
const PAGE = 1_000;

/** The fields of a record that `changes` reads and prints. */
export type ChangeDoc = Pick<ChangeRecordDoc, '@timestamp' | 'event' | 'orchestrator' | 'kubernetes' | 'crtrail'>;

/** Records matching `query`, `limit` at most, in pages (search_after) so any limit works. */
export async function* records(
  es: Client,
  index: string,
  query: estypes.QueryDslQueryContainer,
  order: 'asc' | 'desc',
  limit: number,
  onTotal: (n: number) => void = () => {},
  page = PAGE,
) {
  let after: estypes.SortResults | undefined;
  let seen = 0;
  for (;;) {
    const res = await es.search<ChangeDoc>({
      index,
      query,
      // A total order, so search_after pages neither skip nor repeat a record (a deletecollection's
      // records share their event.id; seq is unique per cluster).
      sort: [
        { '@timestamp': order },
        { 'event.id': order },
        { 'orchestrator.cluster.name': order },
        { 'crtrail.integrity.seq': { order, missing: '_last', unmapped_type: 'long' } },
      ],
      size: Math.min(page, limit - seen),
      ignore_unavailable: true,
      track_total_hits: seen === 0 ? true : false,
      ...(after ? { search_after: after } : {}),
    });
    if (seen === 0) onTotal(typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? 0));
    for (const hit of res.hits.hits) {
      yield hit;
      seen++;
    }
    const last = res.hits.hits.at(-1);
    if (!last || seen >= limit || res.hits.hits.length === 0) return;
    after = last.sort;
  }
}

/** `crtrail changes`: what was found, for the lines under the records. */
export interface ChangesResult {
  /** No records index at all: nothing was ever recorded under this prefix. */
  noIndex: boolean;
  shown: number;
  /** How many records match (more than `shown` when the limit cut the list). */
  total: number;
}

/**
 * The records matching `filters`, newest first (oldest first for a `timeline`), `limit` at most, each
 * handed to `onRecord` as it arrives (a long history is printed while it is read).
 */
export async function listChanges(
  filters: RecordFilters,
  order: 'asc' | 'desc',
  limit: number,
  onRecord: (doc: ChangeDoc, id: string | undefined) => void,
): Promise<ChangesResult> {
  const env = loadEnv();
  const es = createEsClient(esConnectionFromEnv(env));
  const result: ChangesResult = { noIndex: false, shown: 0, total: 0 };
  try {
    for await (const hit of records(
      es,
      indexNames(env.CRTRAIL_INDEX_PREFIX).alias,
      recordQuery(filters),
      order,
      limit,
      (n) => (result.total = n),
    )) {
      if (!hit._source) continue;
      result.shown++;
      onRecord(hit._source, hit._id);
    }
  } catch (err) {
    const type = (err as { body?: { error?: { type?: string } } }).body?.error?.type;
    if (type === 'index_not_found_exception') return { ...result, noIndex: true };
    throw new CliError(
      `cannot query Elasticsearch at ${shownEsUrl(env.CRTRAIL_ES_URL)} (CRTRAIL_ES_URL): ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  } finally {
    await es.close();
  }
  return result;
}
