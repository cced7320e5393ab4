import { Counter, Gauge, Histogram } from 'prom-client';
import { serviceRegistry } from '@crtrail/telemetry';

export function createWebhookMetrics() {
  const registry = serviceRegistry('webhook');
  return {
    registry,
    received: new Counter({
      name: 'crtrail_webhook_events_received_total',
      help: 'Audit events received in POSTed batches',
      registers: [registry],
    }),
    accepted: new Counter({
      name: 'crtrail_webhook_events_accepted_total',
      help: 'Audit events acked (durably enqueued)',
      labelNames: ['cluster'],
      registers: [registry],
    }),
    enqueued: new Counter({
      name: 'crtrail_webhook_events_enqueued_total',
      help: 'Acked events that are custom-resource mutations, enqueued for the worker',
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'crtrail_webhook_batches_rejected_total',
      help: 'Batches rejected, by reason code',
      labelNames: ['reason'],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'crtrail_webhook_batch_events',
      help: 'Events per accepted batch',
      buckets: [1, 10, 50, 100, 200, 400, 800, 2000],
      registers: [registry],
    }),
    jobsPerBatch: new Histogram({
      name: 'crtrail_webhook_jobs_per_batch',
      help: 'Jobs a batch with kept events was cut into (bounded in events and bytes, written in one transaction)',
      buckets: [1, 2, 3, 5, 10, 20, 50, 120],
      registers: [registry],
    }),
    jobBytes: new Histogram({
      name: 'crtrail_webhook_job_bytes',
      help: 'Bytes of event JSON per job written',
      buckets: [
        1024,
        16 * 1024,
        64 * 1024,
        256 * 1024,
        512 * 1024,
        1024 * 1024,
        2 * 1024 * 1024,
        4 * 1024 * 1024,
        16 * 1024 * 1024,
      ],
      registers: [registry],
    }),
    queueWaiting: new Gauge({
      name: 'crtrail_webhook_queue_waiting',
      help: 'Batches waiting in the queue for a worker (read at each scrape and by the backpressure check)',
      registers: [registry],
    }),
    bodyBytes: new Counter({
      name: 'crtrail_webhook_body_bytes_total',
      help: 'Bytes of accepted request bodies',
      registers: [registry],
    }),
    ackLatency: new Histogram({
      name: 'crtrail_webhook_ack_latency_seconds',
      help: 'From request start to the 200 ack (includes the Redis write)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

export type WebhookMetrics = ReturnType<typeof createWebhookMetrics>;
