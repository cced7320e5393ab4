import type { RedisClient } from '@crtrail/queue';
import type { Job, Queue } from 'bullmq';
import { attemptsUsed, JOB_NAME, type BatchJob } from '@crtrail/queue';
import { keysFor } from './keys.js';

/**
 * Batches whose processing finally failed: BullMQ's failed set (kept, `removeOnFail: false`). Each
 * is evidence of acked events that are not in Elasticsearch, so `dlq list` shows them and `dlq
 * replay` re-drives them next to the dead letters.
 */
export interface FailedBatch {
  id: string;
  cluster: string;
  events: number;
  reason: string;
  /** When its first attempt failed (as the worker noted it), else when it was enqueued. */
  firstFailedAt: string;
  failedAt: string | undefined;
  /** Failed attempts plus crashes/stalls. */
  attempts: number;
}

/** Notes the time of a job's first failure (later failures keep it). */
export async function noteFailure(redis: RedisClient, prefix: string, jobId: string): Promise<void> {
  await redis.hsetnx(keysFor(redis, prefix).firstFailure, jobId, new Date().toISOString());
}

/** Forgets it once the job is done (completed or re-driven). */
export async function forgetFailure(redis: RedisClient, prefix: string, jobId: string): Promise<void> {
  await redis.hdel(keysFor(redis, prefix).firstFailure, jobId);
}

const PAGE = 200;

/** The failed set of `queue`, oldest first (like the dead-letter list), a page at a time. */
export async function* failedPages<T>(queue: Queue<T>): AsyncGenerator<Array<Job<T>>> {
  for (let start = 0; ; start += PAGE) {
    const jobs = (await queue.getJobs(['failed'], start, start + PAGE - 1, true)) as Array<Job<T>>;
    if (jobs.length > 0) yield jobs;
    if (jobs.length < PAGE) return;
  }
}

/** The failed jobs of `queue` to re-drive: all of them, or the one `id` names if it is failed. */
export async function failedJobs<T>(queue: Queue<T>, id?: string): Promise<Array<Job<T>>> {
  const chosen =
    id === undefined
      ? await queue.getJobs(['failed'], 0, -1, true)
      : [await queue.getJob(id)].filter((j) => j !== undefined);
  const out: Array<Job<T>> = [];
  for (const job of chosen) if (await job.isFailed()) out.push(job as Job<T>);
  return out;
}

export async function listFailedBatches(
  queue: Queue<BatchJob>,
  redis: RedisClient,
  prefix: string,
): Promise<FailedBatch[]> {
  const out: FailedBatch[] = [];
  for await (const jobs of failedPages(queue)) {
    const firsts = await redis.hmget(keysFor(redis, prefix).firstFailure, ...jobs.map((j) => String(j.id)));
    jobs.forEach((job, i) => {
      out.push({
        id: String(job.id),
        cluster: job.data.cluster,
        events: job.data.events?.length ?? 0,
        reason: job.failedReason ?? '',
        firstFailedAt: firsts[i] ?? new Date(job.timestamp).toISOString(),
        failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : undefined,
        attempts: attemptsUsed(job),
      });
    });
  }
  return out;
}

/**
 * Re-drives failed batches (all, or the job `id`): each is added again as a new job — fresh attempt
 * and stall counters, which `job.retry()` would not reset — and the failed one removed. Safe to
 * repeat: records have deterministic ids and are written with `create`.
 */
export async function replayFailedBatches(
  queue: Queue<BatchJob>,
  redis: RedisClient,
  prefix: string,
  id?: string,
): Promise<number> {
  let requeued = 0;
  for (const job of await failedJobs(queue, id)) {
    await queue.add(JOB_NAME, job.data);
    await job.remove();
    await forgetFailure(redis, prefix, String(job.id));
    requeued++;
  }
  return requeued;
}
