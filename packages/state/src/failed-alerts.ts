import type { Job, Queue } from 'bullmq';
import type { RedisClient } from '@crtrail/queue';
import { failedJobs, failedPages } from './failed-batches.js';
import { keysFor } from './keys.js';

/**
 * What `dlq list` reads of an alert job (the worker's `AlertJob`): a `send` carries one record's
 * alert, a `flush` names the group window whose collected alerts it sends as one message.
 */
interface AlertJobShape {
  type: 'send' | 'flush';
  sink: string;
  alert?: { record_id: string; cluster: string };
  group?: string;
  window?: string;
}

/**
 * An alert message that finally failed: the failed set of `<prefix>-alerts` (kept, `removeOnFail:
 * false`), the alert dead letters. The receiver never got it, so `dlq list` shows it and `dlq replay`
 * sends it again once the sink is fixed.
 */
export interface FailedAlert {
  /** The job id (`<sink>.<record id>` for a single alert). */
  id: string;
  sink: string;
  type: 'send' | 'flush';
  /** The records whose alerts the message carries: one, or a group window's (a `flush`). */
  records: string[];
  cluster: string;
  reason: string;
  failedAt: string | undefined;
  attempts: number;
}

async function describe(job: Job<AlertJobShape>, redis: RedisClient, prefix: string): Promise<FailedAlert> {
  const d = job.data;
  let alerts = d.alert ? [d.alert] : [];
  if (d.type === 'flush' && d.group !== undefined && d.window !== undefined) {
    // A failed flush left its window's alerts aside (where its retry takes them from): read, not taken.
    const raw = await redis.lrange(keysFor(redis, prefix).alertFlushing(d.sink, d.group, d.window), 0, -1);
    alerts = raw.flatMap((r) => {
      try {
        return [JSON.parse(r) as { record_id: string; cluster: string }];
      } catch {
        return []; // one unreadable entry must not keep the list from showing the rest
      }
    });
  }
  return {
    id: String(job.id),
    sink: d.sink,
    type: d.type,
    records: alerts.map((a) => a.record_id),
    cluster: alerts[0]?.cluster ?? '',
    reason: job.failedReason ?? '',
    failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : undefined,
    attempts: job.attemptsMade,
  };
}

/** The alert dead letters, oldest first. */
export async function listFailedAlerts(queue: Queue, redis: RedisClient, prefix: string): Promise<FailedAlert[]> {
  const out: FailedAlert[] = [];
  for await (const jobs of failedPages(queue as Queue<AlertJobShape>))
    for (const job of jobs) out.push(await describe(job, redis, prefix));
  return out;
}

/**
 * Sends failed alert messages again (all, or the job `id`): each goes back to wait under its own id,
 * with its attempts counted afresh. Its own id, not a new job: that id is what keeps an alert once
 * per record while the job exists (and a `flush` job's window is keyed by it). A message already
 * delivered in the meantime (its sent marker set) is dropped by the consumer as a duplicate.
 */
export async function retryFailedAlerts(queue: Queue, id?: string): Promise<number> {
  let retried = 0;
  for (const job of await failedJobs(queue, id)) {
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    retried++;
  }
  return retried;
}
