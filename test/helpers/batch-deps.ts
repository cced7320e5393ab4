import type { Client } from '@elastic/elasticsearch';
import { loadConfig } from '@crtrail/config';
import type { RedisClient } from '@crtrail/queue';
import { HistoryCache } from '@crtrail/state';
import { indexNames, RecordLocator } from '@crtrail/store';
import { createEnricher, type BatchDeps } from '@crtrail/worker';

/**
 * What a worker hands `processBatch`/`processJobs`, for tests that call them directly on real Redis
 * and Elasticsearch: the default configuration, a fresh history cache (a worker of its own) and
 * records searchable before the call returns. `extra` replaces any of it.
 */
export function batchDeps(es: Client, redis: RedisClient, prefix: string, extra: Partial<BatchDeps> = {}): BatchDeps {
  const config = extra.config ?? loadConfig(undefined);
  return {
    es,
    redis,
    prefix,
    historyCache: new HistoryCache(),
    enrich: createEnricher(config),
    config,
    salt: 'a-salt-of-sixteen-chars',
    locator: new RecordLocator(es, indexNames(prefix).alias),
    refresh: 'wait_for',
    ...extra,
  };
}
