import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { WebhookMetrics } from '../metrics.js';

/**
 * Fastify's two info lines per request would bury everything else (10 batches/s per apiserver):
 * one debug line per request instead; rejections are logged at warn by the error handler. Counts the
 * announced body bytes of every POST.
 */
async function requestLog(app: FastifyInstance, options: { metrics: WebhookMetrics }): Promise<void> {
  app.addHook('onRequest', async (request) => {
    if (request.method === 'POST') options.metrics.bodyBytes.inc(Number(request.headers['content-length'] ?? 0));
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug(
      { method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });
}

export const requestLogPlugin = fp(requestLog, { name: 'crtrail-request-log', fastify: '5.x' });
