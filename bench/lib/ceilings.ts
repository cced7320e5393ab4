/** The physical ceilings the webhook and the pipeline are compared with, on the same bodies and documents. */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { Client } from '@elastic/elasticsearch';
import { indexNames, recordMapping } from '@crtrail/store';
import { WARMUP_CLUSTER_PREFIX } from './senders.js';

/** What the webhook cannot beat: JSON.parse of each body and one Redis write of it, from the same concurrent loops. */
export async function ceilingParseRedis(
  redis: Redis,
  prefix: string,
  events: number,
  eachBody: (fn: (b: { body: string }) => Promise<void>) => Promise<void>,
): Promise<number> {
  const key = `${prefix}:ceiling`;
  const t0 = performance.now();
  await eachBody(async (b) => {
    JSON.parse(b.body);
    await redis.rpush(key, b.body);
  });
  const s = (performance.now() - t0) / 1000;
  await redis.del(key);
  return events / s;
}

/**
 * What the pipeline cannot beat: raw `_bulk` of the final documents it indexed under `prefix` (not
 * its warm-up's), into a scratch index.
 */
export async function ceilingEsBulk(es: Client, prefix: string): Promise<number> {
  const alias = indexNames(prefix).alias;
  const docs: unknown[] = [];
  let after: unknown[] | undefined;
  for (;;) {
    const res = await es.search({
      index: alias,
      size: 2000,
      query: { bool: { must_not: { prefix: { 'orchestrator.cluster.name': WARMUP_CLUSTER_PREFIX } } } },
      sort: [{ 'event.id': 'asc' }],
      ...(after ? { search_after: after as never } : {}),
    });
    if (res.hits.hits.length === 0) break;
    for (const h of res.hits.hits) docs.push(h._source);
    after = res.hits.hits.at(-1)!.sort as unknown[];
  }
  const target = `${prefix}-ceiling`;
  await es.indices.create({
    index: target,
    mappings: recordMapping,
    settings: { number_of_shards: 1, number_of_replicas: 0 },
  });
  const t0 = performance.now();
  const chunks: unknown[][] = [];
  let cur: unknown[] = [];
  let bytes = 0;
  for (const d of docs) {
    const s = JSON.stringify(d).length;
    if (bytes + s > 8 * 1024 * 1024 && cur.length) {
      chunks.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(d);
    bytes += s;
  }
  if (cur.length) chunks.push(cur);
  let i = 0;
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      for (;;) {
        const c = chunks[i++];
        if (!c) return;
        await es.bulk({ operations: c.flatMap((d) => [{ create: { _index: target } }, d]) as never });
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  await es.indices.delete({ index: target });
  return docs.length / s;
}
