import type { FastifyInstance } from 'fastify';
import type { BatchSink } from '../batch-sink.js';
import type { WebhookMetrics } from '../metrics.js';

/** How long /readyz (and a scrape) waits for Redis before calling it unreachable. */
const READY_PING_TIMEOUT_MS = 1_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export interface HealthRouteOptions {
  sink: BatchSink;
  metrics: WebhookMetrics;
}

/**
 * `/healthz` (the process answers), `/readyz` (the sink answers: 503 + Retry-After otherwise; the
 * body says whether it would keep an acked batch across its restart) and `/metrics` (Prometheus).
 * Open on every webhook, tokens or not: probes and scrapers carry no cluster credentials.
 */
export async function healthRoutes(app: FastifyInstance, options: HealthRouteOptions): Promise<void> {
  const { sink, metrics } = options;
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await withTimeout(sink.ping(), READY_PING_TIMEOUT_MS, 'redis ping');
    } catch (err) {
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ status: 'unavailable', reason: (err as Error).message });
    }
    // Ready either way; the body says whether that Redis would keep an acked batch across its restart.
    try {
      const { settings, warning } = await withTimeout(sink.persistence(), READY_PING_TIMEOUT_MS, 'redis persistence');
      return { status: 'ready', redis: settings, ...(warning ? { warning } : {}) };
    } catch (err) {
      return { status: 'ready', redis: { unknown: true, how: `could not read: ${(err as Error).message}` } };
    }
  });
  app.get('/metrics', async (_request, reply) => {
    // Queue depth as of this scrape (bounded: a Redis outage must not hang the scrape).
    await withTimeout(app.backpressure.refresh(), READY_PING_TIMEOUT_MS, 'queue depth').catch(() => {});
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
