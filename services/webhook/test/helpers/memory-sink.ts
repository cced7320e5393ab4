import type { BatchJob, RedisPersistence } from '@crtrail/queue';
import type { BatchSink, SinkPersistence } from '../../src/batch-sink.js';

/**
 * The webhook's BatchSink port held in memory: what the routes wrote, as it would be stored (the job's
 * JSON bytes, parsed back), and failures on demand.
 */
export class MemorySink implements BatchSink {
  readonly jobs: BatchJob[] = [];
  /** The same jobs as the text written. */
  readonly raw: string[] = [];
  /** The next add() rejects with this (and writes nothing); cleared once thrown. */
  failNextAdd: Error | undefined;
  /** ping() rejects with this while set. */
  pingError: Error | undefined;
  /** persistence() rejects with this while set. */
  persistenceError: Error | undefined;
  settings: RedisPersistence = { aof: true, rdb: false, persistent: true, how: 'appendonly yes (test sink)' };
  warning: string | undefined;

  /** While set, add() waits for it before writing (a slow Redis); `addsStarted` counts the calls. */
  gate: Promise<void> | undefined;
  addsStarted = 0;

  async add(jobs: readonly Buffer[]): Promise<void> {
    this.addsStarted++;
    if (this.gate) await this.gate;
    const failure = this.failNextAdd;
    this.failNextAdd = undefined;
    if (failure) throw failure;
    // Parsed as a worker parses a job's data: a job that is not valid JSON fails here too.
    this.raw.push(...jobs.map((j) => j.toString('utf8')));
    this.jobs.push(...jobs.map((j) => JSON.parse(j.toString('utf8')) as BatchJob));
  }

  async waiting(): Promise<number> {
    return this.jobs.length;
  }

  async ping(): Promise<void> {
    if (this.pingError) throw this.pingError;
  }

  async persistence(): Promise<SinkPersistence> {
    if (this.persistenceError) throw this.persistenceError;
    return this.warning ? { settings: this.settings, warning: this.warning } : { settings: this.settings };
  }

  /** The cluster and auditIDs of every job, in write order. */
  written(): Array<{ cluster: string; ids: string[] }> {
    return this.jobs.map((j) => ({ cluster: j.cluster, ids: j.events.map((e) => e.auditID) }));
  }
}
