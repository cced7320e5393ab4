import type { Client, estypes } from '@elastic/elasticsearch';
import type { CrtrailConfig, Env } from '@crtrail/config';
import {
  createEsClient,
  esConnectionFromEnv,
  indexNames,
  scanRecords,
  shownEsUrl,
  type StoredRecordDoc,
} from '@crtrail/store';
import { createRedis, describeRedis, redisTargetFromEnv } from '@crtrail/queue';
import { ChainVerifier, configDigest, seqRangeText, type ChainedRecord } from '@crtrail/integrity';
import { chainHead, listDeadLetters } from '@crtrail/state';
import { CliError, nothingChecked } from '../errors.js';
import { Progress } from '../print/progress.js';
import { verifyConfigs, verifyEnv } from './verify-inputs.js';
import { checkNotes, problemLines, uncheckedOf, type VerifyReport } from './verify-report.js';

/**
 * Any Elasticsearch failure means nothing was checked (exit 2), never "broken": a cron job must
 * not read an outage as tampering. The message names the service and the variable to fix.
 */
function esFailure(err: unknown, env: Env): CliError {
  if (err instanceof CliError) return err;
  const e = err as { name?: string; message?: string; meta?: { statusCode?: number } };
  const url = shownEsUrl(env.CRTRAIL_ES_URL);
  const status = e.meta?.statusCode;
  if (status === 401 || status === 403) {
    return nothingChecked(
      `Elasticsearch at ${url} refused crtrail's credentials (CRTRAIL_ES_USERNAME/CRTRAIL_ES_PASSWORD or CRTRAIL_ES_API_KEY): ${e.message}`,
    );
  }
  // No HTTP answer at all (refused, reset, timed out, no living connection): the transport has no status.
  if (typeof status !== 'number' || status === 0)
    return nothingChecked(`Elasticsearch at ${url} does not answer (CRTRAIL_ES_URL): ${e.message ?? String(err)}`);
  return nothingChecked(`Elasticsearch at ${url} failed (CRTRAIL_ES_URL): ${e.message ?? String(err)}`);
}

function redisFailure(err: unknown, env: Env): CliError {
  return nothingChecked(
    `Redis at ${describeRedis(redisTargetFromEnv(env))} does not answer (CRTRAIL_REDIS_URL): ${(err as Error).message}`,
  );
}

/** What the walk reads of a stored record: the chained parts, and its time. */
type StoredRecord = ChainedRecord & StoredRecordDoc<'@timestamp'>;

/** `crtrail verify --cluster`: walks the chain stored in Elasticsearch, then compares its end with the head in Redis. */
export async function verifyStoredChain(
  cluster: string,
  since?: string,
  options: { configs?: CrtrailConfig[] } = {},
): Promise<VerifyReport> {
  const env = verifyEnv();
  const configs = options.configs ?? verifyConfigs();
  const es = createEsClient(esConnectionFromEnv(env));
  const redis = createRedis(redisTargetFromEnv(env), {
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    enableOfflineQueue: true,
    retryStrategy: () => null,
    lazyConnect: true,
  });
  redis.on('error', () => {});
  const index = indexNames(env.CRTRAIL_INDEX_PREFIX).alias;
  const problems: string[] = [];
  const notes: string[] = [];
  const byCluster = { term: { 'orchestrator.cluster.name': cluster } };
  try {
    // Both services first: an outage is "could not check" (2), found before a long walk.
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      throw redisFailure(err, env);
    }
    const head = await chainHead(redis, env.CRTRAIL_INDEX_PREFIX, cluster).catch((err: unknown) => {
      throw redisFailure(err, env);
    });
    let startSeq = 1;
    let stored: StoredChain;
    try {
      stored = await storedChain(es, index, byCluster, since);
    } catch (err) {
      throw esFailure(err, env);
    }
    // Deleting the newest records leaves no gap inside the walk: the head in Redis still counts them.
    const endMissing = (lastSeq: number): string | undefined => {
      if (head.seq <= lastSeq) return undefined;
      return `missing: ${seqRangeText([lastSeq + 1, head.seq])} missing at the end of the chain (the head in Redis is at seq ${head.seq}${head.pending > 0 ? `; ${head.pending} records are still being written` : ''})`;
    };
    if (stored.count === 0 || (since && stored.sinceMin === null)) {
      // Nothing to walk. Records the head counts are deleted records (1); otherwise there is nothing to check (2).
      const missing = endMissing(stored.maxSeq ?? 0);
      if (missing) return { ok: false, records: 0, problems: [missing], notes };
      if (stored.count > 0)
        throw nothingChecked(
          `no records of cluster ${cluster} since ${since} (its newest record is from ${stored.newest ?? 'an unknown time'}): nothing to check`,
        );
      throw nothingChecked(`no records of cluster ${cluster} (${await knownClusters(es, index, env)})`);
    }
    if (since && stored.sinceMin !== null) startSeq = stored.sinceMin;
    const verifier = new ChainVerifier({ startSeq, configs, complete: !since });
    const progress = new Progress('verify');
    let records = 0;
    const query = {
      bool: { filter: [byCluster, ...(since ? [{ range: { 'crtrail.integrity.seq': { gte: startSeq } } }] : [])] },
    };
    try {
      for await (const { id, source } of scanRecords<StoredRecord>(es, {
        index,
        query,
        sort: [{ 'crtrail.integrity.seq': { order: 'asc', missing: '_first', unmapped_type: 'long' } }],
        onTotal: (n) => progress.total(n),
      })) {
        records++;
        progress.tick();
        verifier.push(source, `_id ${id}`);
      }
    } catch (err) {
      throw esFailure(err, env);
    }
    progress.done();
    verifier.finish();
    problems.push(...problemLines(verifier));
    const last = verifier.summary().get(cluster)?.last;
    const missing = endMissing(last?.seq ?? startSeq - 1);
    if (missing) {
      problems.push(missing);
    } else if (last && head.seq === last.seq && head.hash !== last.hash) {
      problems.push(`broken-link: seq ${last.seq} is not the record the chain head in Redis points to (replaced)`);
    } else if (head.seq > 0) {
      notes.push(`head: matches Redis (seq ${head.seq})`);
    } else {
      notes.push('head: none in Redis (lost in a restart without persistence?): the end of the chain is not confirmed');
    }
    // A record Elasticsearch refused for good waits in the dead-letter queue with its links.
    const parked = (
      await listDeadLetters(redis, env.CRTRAIL_INDEX_PREFIX).catch((err: unknown) => {
        throw redisFailure(err, env);
      })
    )
      .filter((d) => d.cluster === cluster)
      .map((d) => (d.action.doc as ChainedRecord).crtrail?.integrity?.seq)
      .filter((seq): seq is number => typeof seq === 'number');
    if (parked.length > 0)
      notes.push(
        `dead letters: seq ${parked.slice(0, 20).join(', ')}${parked.length > 20 ? ', …' : ''} of this cluster wait in the dead-letter queue (crtrail dlq replay puts them back)`,
      );
    notes.push(...checkNotes(verifier, configs.map(configDigest)));
    if (problems.length === 0)
      notes.push(
        `chain: intact, ${records} records of cluster ${cluster}${last ? `, seq ${startSeq}–${last.seq}` : ''}`,
      );
    return { ok: problems.length === 0, records, problems, notes, unchecked: uncheckedOf(verifier) };
  } finally {
    redis.disconnect();
    await es.close();
  }
}

/** How much of a cluster's chain Elasticsearch holds: its count, highest seq, newest time, and the lowest seq since `since`. */
interface StoredChain {
  count: number;
  maxSeq: number | null;
  newest: string | null;
  sinceMin: number | null;
}

async function storedChain(
  es: Client,
  index: string,
  byCluster: estypes.QueryDslQueryContainer,
  since: string | undefined,
): Promise<StoredChain> {
  await es.indices.refresh({ index, ignore_unavailable: true });
  const res = await es.search({
    index,
    size: 0,
    track_total_hits: true,
    query: byCluster,
    aggs: {
      max_seq: { max: { field: 'crtrail.integrity.seq' } },
      newest: { max: { field: '@timestamp' } },
      // Seq order is arrival order, not event time: a --since walk starts at the lowest seq of any record since T.
      ...(since
        ? {
            since: {
              filter: { range: { '@timestamp': { gte: since } } },
              aggs: { min_seq: { min: { field: 'crtrail.integrity.seq' } } },
            },
          }
        : {}),
    },
    ignore_unavailable: true,
  });
  const aggs = res.aggregations as
    Record<string, { value?: number | null; value_as_string?: string; min_seq?: { value: number | null } }> | undefined;
  const total = typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? 0);
  return {
    count: total,
    maxSeq: aggs?.max_seq?.value ?? null,
    newest: aggs?.newest?.value_as_string ?? null,
    sinceMin: aggs?.since?.min_seq?.value ?? null,
  };
}

/** The clusters that do have records, for the message that names a typo. */
async function knownClusters(es: Client, index: string, env: Env): Promise<string> {
  try {
    const res = await es.search({
      index,
      size: 0,
      aggs: { clusters: { terms: { field: 'orchestrator.cluster.name', size: 50 } } },
      ignore_unavailable: true,
    });
    const names = ((res.aggregations?.clusters as { buckets?: Array<{ key: string }> } | undefined)?.buckets ?? []).map(
      (b) => b.key,
    );
    return names.length > 0
      ? `known clusters: ${names.join(', ')}`
      : `no records of any cluster under CRTRAIL_INDEX_PREFIX=${env.CRTRAIL_INDEX_PREFIX}`;
  } catch (err) {
    throw esFailure(err, env);
  }
}
