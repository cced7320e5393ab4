import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createWorkerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'crtrail_worker_' });
  return {
    registry,
    events: new Counter({ name: 'crtrail_worker_events_total', help: 'Audit events seen, by filter decision', labelNames: ['decision'], registers: [registry] }),
    records: new Counter({ name: 'crtrail_worker_records_total', help: 'Change records written, by result', labelNames: ['result'], registers: [registry] }),
    bulkRetries: new Counter({ name: 'crtrail_worker_bulk_retries_total', help: 'Bulk items retried after 429/5xx', registers: [registry] }),
    dlq: new Counter({ name: 'crtrail_worker_dead_letters_total', help: 'Records dead-lettered (Elasticsearch refused them)', registers: [registry] }),
    dlqSize: new Gauge({ name: 'crtrail_worker_dlq_size', help: 'Entries in the dead-letter list', registers: [registry] }),
    lag: new Histogram({
      name: 'crtrail_worker_lag_seconds',
      help: 'From webhook ack to records written',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
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
