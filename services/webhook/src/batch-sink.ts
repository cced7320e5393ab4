import type { RedisPersistence } from '@crtrail/queue';

/** What a sink keeps across a restart of its store, as /readyz reports it. */
export interface SinkPersistence {
  /** The store's settings as read (`redis` in /readyz's body). */
  settings: RedisPersistence;
  /** The loud line to show when an acked batch would not survive a restart of the store. */
  warning?: string;
}

/**
 * Where accepted batches go: the one port the routes write through. The webhook acks a batch only
 * once {@link BatchSink.add} resolved, so an implementation must make "resolved" mean durable.
 * The real one is BullMQ on Redis (`redisBatchSink`); the route tests use an in-memory one.
 */
export interface BatchSink {
  /**
   * Writes all of `jobs` atomically, each the UTF-8 JSON of one `BatchJob` (as the workers read it): resolved = every job is stored (and, if the sink was asked to,
   * confirmed by its replicas); rejected = none is, or {@link ReplicasBehindError} = all are
   * written but not confirmed in time. An empty list resolves without writing anything.
   */
  add(jobs: readonly Buffer[]): Promise<void>;
  /** How many jobs wait for a worker (the backpressure signal). */
  waiting(): Promise<number>;
  /** Resolves when the store answers (readiness). */
  ping(): Promise<void>;
  /** Whether the store keeps acked batches across its own restart (readiness, start-up warning). */
  persistence(): Promise<SinkPersistence>;
}

/** The jobs are written, but fewer replicas than asked for confirmed them within the wait. */
export class ReplicasBehindError extends Error {
  constructor(
    readonly acked: number,
    readonly wanted: number,
    readonly waitedMs: number,
  ) {
    super(`${acked} of ${wanted} replicas confirmed within ${waitedMs} ms`);
    this.name = 'ReplicasBehindError';
  }
}
