import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { WebhookMetrics } from '../metrics.js';

/** Handshake failures never become requests: counted and logged here, or they would be invisible. */
async function tlsRejections(app: FastifyInstance, options: { metrics: WebhookMetrics }): Promise<void> {
  app.server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    options.metrics.rejected.inc({ reason: 'CRTRAIL_ERR_TLS_HANDSHAKE' });
    app.log.warn(
      { code: 'CRTRAIL_ERR_TLS_HANDSHAKE', reason: err.code ?? err.message, remoteAddress: socket.remoteAddress },
      'TLS handshake rejected',
    );
    socket.destroy();
  });
}

export const tlsRejectionsPlugin = fp(tlsRejections, { name: 'crtrail-tls-rejections', fastify: '5.x' });
