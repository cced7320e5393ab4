/**
 * How many events, and how many bytes of event JSON, one job may carry. A whole apiserver batch in
 * one job was unbounded in practice: three 20 MB batches, or one 21 MB batch of 60,000 small events,
 * are jobs a worker must read, parse and diff in one piece within its heap (256 MB by default,
 * CRTRAIL_WORKER_HEAP_MB, CRTRAIL_WORKER_CONCURRENCY = 4 jobs at once). Measured (bench/job-bounds.ts):
 * a job holds ~1× its JSON as the string read from Redis plus ~0.6–0.8× parsed, so 4 jobs of 2 MiB in
 * flight hold ~15 MB before the diff; cutting a 10 MB batch into 2 MiB jobs costs the ack nothing
 * measurable (137 ms as 1 job or 5; the bytes to Redis dominate, not the number of jobs), and for
 * 60,000 small events 120 jobs of 500 cost no more than 30 of 2,000 (~0.56 s either way, within noise).
 * 500 events keeps the apiserver's own batches (--audit-webhook-batch-max-size 400) one job each.
 */
export const JOB_BOUNDS = Object.freeze({ maxEvents: 500, maxBytes: 2 * 1024 * 1024 });

export interface JobBounds {
  maxEvents: number;
  maxBytes: number;
}

export interface JobChunk<T> {
  events: T[];
  /** Bytes of the events' JSON (UTF-8, without the array's brackets and commas), or the caller's upper bound of it. */
  bytes: number;
}

/**
 * Cuts `events` into consecutive chunks of at most `bounds.maxEvents` events and `bounds.maxBytes`
 * bytes (by `sizes[i]`, the byte size of event i). Order is kept and nothing is dropped; an event
 * larger than `maxBytes` on its own gets a chunk of its own (it cannot be cut, and refusing it would
 * lose it). Pure: the caller measures, so the measuring cost stays visible where it is paid.
 */
export function splitBySize<T>(
  events: readonly T[],
  sizes: readonly number[],
  bounds: JobBounds = JOB_BOUNDS,
): JobChunk<T>[] {
  if (sizes.length !== events.length) throw new Error(`splitBySize: ${events.length} events but ${sizes.length} sizes`);
  if (!(bounds.maxEvents >= 1) || !(bounds.maxBytes >= 1)) throw new Error('splitBySize: bounds must be >= 1');
  const chunks: JobChunk<T>[] = [];
  let current: JobChunk<T> = { events: [], bytes: 0 };
  for (let i = 0; i < events.length; i++) {
    const size = sizes[i]!;
    const full =
      current.events.length >= bounds.maxEvents ||
      (current.events.length > 0 && current.bytes + size > bounds.maxBytes);
    if (full) {
      chunks.push(current);
      current = { events: [], bytes: 0 };
    }
    current.events.push(events[i]!);
    current.bytes += size;
  }
  if (current.events.length > 0) chunks.push(current);
  return chunks;
}

/**
 * {@link splitBySize} for a caller holding event objects, measuring each event by serializing it
 * once (`JSON.stringify` + UTF-8 byte length); BullMQ stringifies the job data again when it writes.
 * (The webhook does neither: it holds each kept event's JSON bytes, cuts them with
 * {@link splitBySize} and writes them as they are.) Measured on an idle 2-core machine: ~2.5 ms for a typical 400-event 0.5 MB batch, ~50 ms for a
 * 10 MB one, ~150–200 ms for 60,000 small events. So when `bytesAtMost` (an upper bound of the
 * events' JSON: the raw body's size, with room for redaction) already fits the bounds, nothing is
 * measured and the batch is one chunk whose `bytes` is that bound — the common case pays nothing.
 */
export function splitEvents<T>(
  events: readonly T[],
  bounds: JobBounds = JOB_BOUNDS,
  bytesAtMost?: number,
): JobChunk<T>[] {
  if (events.length === 0) return [];
  if (bytesAtMost !== undefined && bytesAtMost <= bounds.maxBytes && events.length <= bounds.maxEvents) {
    return [{ events: [...events], bytes: bytesAtMost }];
  }
  const sizes = events.map((e) => Buffer.byteLength(JSON.stringify(e) ?? 'null', 'utf8'));
  return splitBySize(events, sizes, bounds);
}
