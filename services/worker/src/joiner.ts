import { performance } from 'node:perf_hooks';
import type { BatchJob } from '@crtrail/queue';

/**
 * Joins the jobs a worker holds at once into units of work. The webhook writes one job per apiserver
 * batch, and a batch keeps ~20 custom-resource writes of its 400 events; processed one by one, each
 * paid the same locks, history load, chain seal, existence check and bulk request as a job ten times
 * its size. Jobs that BullMQ hands this worker while a unit is running wait for the next unit and go
 * into it together (up to `maxEvents`), so the fixed cost is shared by all of them.
 *
 * A job that already failed or stalled runs alone: whatever made it fail cannot make other jobs fail
 * with it a second time, and its retries count only against itself.
 *
 * While a unit runs, the next one starts beside it only once it is full, or once its oldest job has
 * waited `fillWaitMs`: otherwise BullMQ's jobs, which arrive one by one as slots free up, each
 * started a unit of their own (~2 jobs per unit under load, ~40 events), and every unit pays an
 * existence check and a bulk request that Elasticsearch pays for per request, not per record. With
 * nothing running, a unit starts at once with what is there: an idle worker adds no wait.
 */
export interface JoinerOptions {
  /** Events at most in one unit; a job bigger than this is a unit of its own (processed in chunks). */
  maxEvents: number;
  /**
   * JSON bytes at most in one unit (by the jobs' `bytes`): a unit's heap is then bounded like one
   * full job's (the worker's sizing rule); a job without `bytes` (an older webhook's) is not joined.
   */
  maxBytes: number;
  /** Units running at once: while one waits on Redis or Elasticsearch, the next can compute. */
  inflight: number;
  /**
   * How long (ms) the jobs of a unit that is not full wait for a running unit to finish before they
   * start beside it (0: at once). Bounds the wait a slow unit (Elasticsearch retrying) imposes.
   */
  fillWaitMs?: number;
}

interface Waiting<R> {
  job: BatchJob;
  alone: boolean;
  /** performance.now() at submit. */
  since: number;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class JobJoiner<R> {
  private readonly waiting: Waiting<R>[] = [];
  private running = 0;
  private scheduled = false;
  private fillTimer: NodeJS.Timeout | undefined;

  constructor(
    /** `alone`: the unit is one job that already failed or stalled (see {@link JobJoiner.submit}). */
    private readonly run: (jobs: BatchJob[], alone: boolean) => Promise<R[]>,
    private readonly options: JoinerOptions,
  ) {
    if (!(options.maxEvents >= 1) || !(options.inflight >= 1))
      throw new Error('JobJoiner: maxEvents and inflight must be >= 1');
  }

  /** Resolves with this job's result once the unit it went into is done; rejects if that unit failed. */
  submit(job: BatchJob, alone = false): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ job, alone, since: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Jobs submitted and not yet in a unit. */
  get pending(): number {
    return this.waiting.length;
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.options.inflight || this.waiting.length === 0) return;
    if (this.running > 0 && !this.nextIsFull()) {
      // Not full while another unit runs: wait for it to finish (it schedules again), at most fillWaitMs.
      const waited = performance.now() - this.waiting[0]!.since;
      const left = (this.options.fillWaitMs ?? 0) - waited;
      if (left > 0) {
        this.fillTimer ??= setTimeout(() => {
          this.fillTimer = undefined;
          this.schedule();
        }, left);
        return;
      }
    }
    clearTimeout(this.fillTimer);
    this.fillTimer = undefined;
    this.scheduled = true;
    // After the I/O callbacks of this turn of the loop: the jobs BullMQ fetched together arrive together.
    setImmediate(() => {
      this.scheduled = false;
      this.startUnit();
      this.schedule();
    });
  }

  private startUnit(): void {
    if (this.running >= this.options.inflight) return;
    const unit = this.take();
    if (unit.length === 0) return;
    this.running++;
    this.run(
      unit.map((w) => w.job),
      unit.length === 1 && unit[0]!.alone,
    )
      .then((results) => {
        if (results.length !== unit.length)
          throw new Error(`a unit of ${unit.length} jobs returned ${results.length} results`);
        unit.forEach((w, i) => w.resolve(results[i]!));
      })
      // The unit failed, or returned the wrong number of results: every job of it fails.
      .catch((err: unknown) => {
        for (const w of unit) w.reject(err);
      })
      .finally(() => {
        this.running--;
        this.schedule();
      });
  }

  /** The next unit: the oldest waiting job, then the following ones while they fit (order kept). */
  private take(): Waiting<R>[] {
    return this.waiting.splice(0, this.nextUnit().jobs);
  }

  /** Whether the next unit is as big as it can be: a job is left over, or it reached a bound (a job alone counts as full). */
  private nextIsFull(): boolean {
    const next = this.nextUnit();
    return (
      next.jobs < this.waiting.length ||
      next.alone ||
      next.events >= this.options.maxEvents ||
      next.bytes >= this.options.maxBytes
    );
  }

  /** How many waiting jobs the next unit takes, and their events and bytes; `alone` when its first job runs alone. */
  private nextUnit(): { jobs: number; events: number; bytes: number; alone: boolean } {
    const first = this.waiting[0];
    if (!first) return { jobs: 0, events: 0, bytes: 0, alone: false };
    if (first.alone || first.job.bytes === undefined)
      return { jobs: 1, events: first.job.events.length, bytes: first.job.bytes ?? 0, alone: true };
    let events = first.job.events.length;
    let bytes = first.job.bytes;
    let jobs = 1;
    for (; jobs < this.waiting.length; jobs++) {
      const next = this.waiting[jobs]!;
      const size = next.job.bytes;
      if (next.alone || size === undefined) break;
      if (events + next.job.events.length > this.options.maxEvents || bytes + size > this.options.maxBytes) break;
      events += next.job.events.length;
      bytes += size;
    }
    return { jobs, events, bytes, alone: false };
  }
}
