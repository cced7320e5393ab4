import { Counter, Gauge, Histogram } from 'prom-client';
import { serviceRegistry } from '@crtrail/telemetry';

export function createWorkerMetrics() {
  const registry = serviceRegistry('worker');
  return {
    registry,
    events: new Counter({
      name: 'crtrail_worker_events_total',
      help: 'Audit events seen, by filter decision',
      labelNames: ['decision'],
      registers: [registry],
    }),
    records: new Counter({
      name: 'crtrail_worker_records_total',
      help: 'Change records written, by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    bulkRetries: new Counter({
      name: 'crtrail_worker_bulk_retries_total',
      help: 'Bulk items retried after 429/5xx',
      registers: [registry],
    }),
    bulkErrors: new Counter({
      name: 'crtrail_worker_bulk_errors_total',
      help: 'Bulk requests that failed (Elasticsearch unreachable or refusing: the batch is retried) and items refused for good (dead-lettered)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    bulkSeconds: new Histogram({
      name: 'crtrail_worker_bulk_duration_seconds',
      help: 'Time of one bulk write to Elasticsearch (its retries of 429/5xx items included)',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    dlq: new Counter({
      name: 'crtrail_worker_dead_letters_total',
      help: 'Entries dead-lettered, by type (record: Elasticsearch refused it; event: processing it threw)',
      labelNames: ['type'],
      registers: [registry],
    }),
    dlqSize: new Gauge({
      name: 'crtrail_worker_dlq_size',
      help: 'Entries in the dead-letter list',
      registers: [registry],
    }),
    failedBatches: new Gauge({
      name: 'crtrail_worker_failed_batches',
      help: 'Batches whose processing finally failed (the failed set; `crtrail dlq list`)',
      registers: [registry],
    }),
    oldestWaiting: new Gauge({
      name: 'crtrail_worker_oldest_waiting_seconds',
      help: 'Age of the oldest batch waiting for a worker (0 when none waits)',
      registers: [registry],
    }),
    activeJobs: new Gauge({
      name: 'crtrail_worker_active_jobs',
      help: 'Batches being processed (all workers of the queue)',
      registers: [registry],
    }),
    stalls: new Counter({
      name: 'crtrail_worker_stalled_jobs_total',
      help: 'Batches found stalled (their worker crashed, was killed or lost its lock) and retried',
      registers: [registry],
    }),
    failures: new Counter({
      name: 'crtrail_worker_batch_failures_total',
      help: 'Failed batch attempts, by outcome (retry or gave_up)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    lag: new Histogram({
      name: 'crtrail_worker_lag_seconds',
      help: 'From webhook ack to records written',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    unitJobs: new Histogram({
      name: 'crtrail_worker_unit_jobs',
      help: 'Jobs processed together as one unit of work (they share its round trips and bulk request)',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers: [registry],
    }),
    takenOver: new Counter({
      name: 'crtrail_worker_objects_taken_over_total',
      help: 'Objects a unit took over from the unit of the same worker before it (pipelined on its planned histories instead of waiting for it to end)',
      registers: [registry],
    }),
    diffSeconds: new Histogram({
      name: 'crtrail_worker_diff_seconds',
      help: 'Time to compute the changes of one batch',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
