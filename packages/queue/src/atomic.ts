import { Job, type Queue } from 'bullmq';

/**
 * Adds `datas` as jobs of `queue` in ONE Redis transaction (MULTI … EXEC): all of them become
 * durable, or none does. BullMQ's own `queue.addBulk` does NOT give that: in bullmq 5.x
 * (`Job.createBulk`, dist/esm/classes/job.js) it writes through `client.pipeline()`, a plain pipeline,
 * so a connection lost after the first commands leaves the first jobs of a batch in Redis and the rest
 * not — and the apiserver, told 503, sends the whole batch again. Here the same `job.addJob` calls go
 * into `client.multi()` instead: Redis discards a transaction whose EXEC never arrives (connection
 * lost mid-write) and aborts all of it (EXECABORT) when any command is refused while queued (OOM under
 * `maxmemory`, for instance). ioredis sends each script as EVAL (full text) the first time on a
 * socket, so a NOSCRIPT inside the transaction cannot happen after a Redis restart.
 */
export async function addJobsAtomically<T>(queue: Queue<T>, name: string, datas: readonly T[]): Promise<string[]> {
  if (datas.length === 0) return [];
  const client = await queue.client;
  const multi = client.multi();
  const opts = queue.defaultJobOptions;
  const jobs = datas.map((data) => new Job<T>(queue, name, data, opts));
  for (const job of jobs) {
    // addJob only queues the script call on the transaction (its promise resolves to the transaction,
    // not to an id); errors come back from exec() below.
    job.addJob(multi as never, {}).catch(() => {});
  }
  let results: Awaited<ReturnType<typeof multi.exec>>;
  try {
    results = await multi.exec();
  } catch (err) {
    // EXECABORT says only "previous errors": name the first (e.g. OOM command not allowed …).
    const first = (err as { previousErrors?: Error[] }).previousErrors?.[0];
    if (first) (err as Error).message += ` (${first.message})`;
    throw err;
  }
  // null: the transaction was aborted (a WATCHed key changed) — nothing was written.
  if (!results) throw new Error('Redis transaction aborted: no job written');
  const ids: string[] = [];
  for (const [err, id] of results) {
    if (err) throw err;
    ids.push(String(id));
  }
  return ids;
}
