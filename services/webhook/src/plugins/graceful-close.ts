import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Graceful shutdown: server.close() reaps only the keep-alive connections idle at that moment. One
 * busy with a request would, after its response, idle on for the keep-alive timeout and hold close()
 * (and the process) that long. So once closing, every response says `Connection: close`, and the
 * connection it leaves idle is reaped right after.
 */
async function gracefulClose(app: FastifyInstance): Promise<void> {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) void reply.header('connection', 'close');
  });
  app.addHook('onResponse', async () => {
    if (closing) setImmediate(() => app.server.closeIdleConnections?.());
  });
}

export const gracefulClosePlugin = fp(gracefulClose, { name: 'crtrail-graceful-close', fastify: '5.x' });
