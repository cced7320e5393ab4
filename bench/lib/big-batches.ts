/**
 * The big-batch case: a few ~20 MB EventLists POSTed at once to a running pipeline (webhook + 1
 * worker, fresh processes so their peak RSS is this case's). Per batch: its ack time and the time
 * until all its records are searchable, both from the send.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { Client } from '@elastic/elasticsearch';
import { loadEnv } from '@crtrail/config';
import { indexNames } from '@crtrail/store';
import type { Workload } from '../workload.js';
import { startPipeline } from './pipeline.js';
import { post } from './senders.js';
import { round } from './stats.js';

const POLL_MS = 100;
/** Generous: 3 × 20 MB on 2 shared cores take tens of seconds; past this the case fails rather than hangs. */
const GIVE_UP_MS = 15 * 60 * 1000;

export interface BigBatchResult {
  cluster: string;
  mb: number;
  events: number;
  cr_writes: number;
  ack_ms: number;
  searchable_ms: number;
}

/** Records searchable now, by cluster (one batch each). */
async function countsByCluster(es: Client, alias: string): Promise<Map<string, number>> {
  const res = await es
    .search({
      index: alias,
      size: 0,
      aggs: { c: { terms: { field: 'orchestrator.cluster.name', size: 100 } } },
    })
    .catch(() => undefined);
  const buckets = (res?.aggregations?.c as { buckets?: Array<{ key: string; doc_count: number }> } | undefined)
    ?.buckets;
  return new Map((buckets ?? []).map((b) => [b.key, b.doc_count]));
}

export async function runBigBatches(es: Client, prefix: string, workload: Workload) {
  const bodies = workload.bodies.map((b) => ({ ...b, buf: Buffer.from(b.body) }));
  // The webhook's limit as configured (32 MiB by default) admits 20 MB batches; only bigger
  // BENCH_BIG_MB sizes raise it, for this case alone, and the result says so.
  const largest = Math.max(...bodies.map((b) => b.buf.length));
  const configured = loadEnv().CRTRAIL_BODY_LIMIT;
  const bodyLimit = Math.max(configured, largest);
  const pipeline = await startPipeline(
    prefix,
    1,
    bodyLimit > configured ? { CRTRAIL_BODY_LIMIT: String(bodyLimit) } : {},
  );
  const alias = indexNames(prefix).alias;
  const searchable = new Map<string, number>();
  const acks = new Map<string, number>();
  let failure: unknown;
  let rss: { webhook: number; worker: number };
  try {
    const t0 = performance.now();
    const sending = Promise.all(
      bodies.map(async (b) => {
        await post(pipeline.url, b.cluster, b.buf);
        acks.set(b.cluster, performance.now() - t0);
      }),
    ).catch((e: unknown) => {
      failure = e;
    });
    while (searchable.size < bodies.length && failure === undefined) {
      if (performance.now() - t0 > GIVE_UP_MS)
        throw new Error(`big batches: not all searchable after ${GIVE_UP_MS / 1000} s`);
      const counts = await countsByCluster(es, alias);
      const at = performance.now() - t0;
      for (const b of bodies)
        if (!searchable.has(b.cluster) && (counts.get(b.cluster) ?? 0) >= b.crWrites) searchable.set(b.cluster, at);
      await sleep(POLL_MS);
    }
    await sending;
    rss = pipeline.rss();
  } finally {
    await pipeline.stop();
  }
  if (failure !== undefined) throw failure;
  const batches: BigBatchResult[] = bodies.map((b) => ({
    cluster: b.cluster,
    mb: round(b.buf.length / 2 ** 20, 2),
    events: b.events,
    cr_writes: b.crWrites,
    ack_ms: round(acks.get(b.cluster)!),
    searchable_ms: round(searchable.get(b.cluster)!),
  }));
  return { batches, rss_mb: rss, body_limit: bodyLimit, body_limit_raised: bodyLimit > configured };
}
