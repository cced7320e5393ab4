import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { BatchSink } from '../batch-sink.js';
import { errors } from '../errors.js';
import type { WebhookMetrics } from '../metrics.js';

/** How often the queue's waiting count is read for backpressure (not once per request). */
const WAITING_REFRESH_MS = 200;

/** The queue depth as last read, and the refusal it implies. */
export interface Backpressure {
  /** Jobs waiting for a worker, as last read. */
  readonly waiting: number;
  /** Reads the depth now (a failed read keeps the last value). */
  refresh(): Promise<void>;
  /** Throws CRTRAIL_ERR_QUEUE_FULL (429, Retry-After) while more than `maxWaiting` jobs wait. */
  check(): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    backpressure: Backpressure;
  }
}

export interface BackpressureOptions {
  sink: BatchSink;
  metrics: WebhookMetrics;
  /** Answer 429 while more than this many batches wait in the queue (the worker is behind); unset = never. */
  maxWaiting?: number | undefined;
}

/**
 * Backpressure: while the workers are behind, refuse fast with Retry-After (the apiserver retries)
 * rather than queue without bound. The waiting count is refreshed in the background, only when
 * there is a limit to hold it against; /metrics refreshes it at each scrape either way.
 */
async function backpressure(app: FastifyInstance, options: BackpressureOptions): Promise<void> {
  const { sink, metrics, maxWaiting } = options;
  let waiting = 0;
  const state: Backpressure = {
    get waiting() {
      return waiting;
    },
    refresh: () =>
      sink.waiting().then(
        (n) => {
          waiting = n;
          metrics.queueWaiting.set(n);
        },
        () => {},
      ),
    check() {
      if (maxWaiting && waiting > maxWaiting) throw new errors.CRTRAIL_ERR_QUEUE_FULL(waiting);
    },
  };
  app.decorate('backpressure', state);
  const timer = maxWaiting ? setInterval(() => void state.refresh(), WAITING_REFRESH_MS) : undefined;
  timer?.unref();
  app.addHook('onClose', async () => clearInterval(timer));
}

export const backpressurePlugin = fp(backpressure, { name: 'crtrail-backpressure', fastify: '5.x' });
