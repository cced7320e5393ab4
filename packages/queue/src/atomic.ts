import { Job, type JobJson, type JobsOptions, type Queue } from 'bullmq';

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
export function addJobsAtomically<T>(queue: Queue<T>, name: string, datas: readonly T[]): Promise<string[]> {
  const opts = queue.defaultJobOptions;
  return writeAtomically(
    queue,
    datas.map((data) => new Job<T>(queue, name, data, opts)),
  );
}

/**
 * {@link addJobsAtomically} for data already serialized: each of `encoded` is the UTF-8 JSON text of
 * one job's data, stored as it is — what BullMQ's own `JSON.stringify(job.data)` would have stored,
 * and read back by workers the same way (`JSON.parse` of the job's `data` field). A producer that
 * holds its data's bytes (the webhook holds the events as the apiserver sent them) skips
 * serializing large objects again and converting that text to bytes for the socket.
 */
export function addEncodedJobsAtomically<T>(
  queue: Queue<T>,
  name: string,
  encoded: readonly Buffer[],
): Promise<string[]> {
  const opts = queue.defaultJobOptions;
  return writeAtomically(
    queue,
    encoded.map((bytes) => new EncodedJob<T>(queue, name, bytes, opts)),
  );
}

/** A job whose data is given as its JSON bytes: BullMQ's `asJSON` puts them where its stringified data goes. */
class EncodedJob<T> extends Job<T> {
  constructor(
    queue: Queue<T>,
    name: string,
    private readonly encoded: Buffer,
    opts: JobsOptions,
  ) {
    // The data BullMQ stringifies itself is left empty; asJSON swaps in the bytes.
    super(queue, name, {} as T, opts);
  }

  override asJSON(): JobJson {
    // ioredis sends a Buffer argument as it is (a bulk string), so the script stores these bytes.
    return { ...super.asJSON(), data: this.encoded as unknown as string };
  }
}

async function writeAtomically<T>(queue: Queue<T>, jobs: readonly Job<T>[]): Promise<string[]> {
  if (jobs.length === 0) return [];
  const client = await queue.client;
  const multi = client.multi();
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
