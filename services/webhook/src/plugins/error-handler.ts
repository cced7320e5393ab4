import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { isWebhookError, responseHeadersOf } from '../errors.js';
import type { WebhookMetrics } from '../metrics.js';

/**
 * Our own reason codes for what Fastify refuses before a route runs, so the metrics' `reason` label
 * and the body's `error` keep a stable vocabulary whatever Fastify version names them.
 */
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'CRTRAIL_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'CRTRAIL_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'CRTRAIL_ERR_INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'CRTRAIL_ERR_BAD_REQUEST',
  FST_ERR_NOT_FOUND: 'CRTRAIL_ERR_NOT_FOUND',
};

function stableCode(code: string | undefined, status: number): string {
  if (code && FASTIFY_CODES[code]) return FASTIFY_CODES[code];
  if (code?.startsWith('CRTRAIL_')) return code;
  if (status === 408) return 'CRTRAIL_ERR_TIMEOUT';
  return status >= 500 ? 'CRTRAIL_ERR_INTERNAL' : 'CRTRAIL_ERR_BAD_REQUEST';
}

export interface ErrorHandlerOptions {
  metrics: WebhookMetrics;
  /** The body limit, as the 413's reason names it. */
  bodyLimit: number;
}

/**
 * Every refusal, ours or Fastify's, answers `{error, reason, statusCode}` with a `CRTRAIL_ERR_*`
 * code, counts in `crtrail_webhook_batches_rejected_total{reason}` and logs one line (warn; error
 * for a failure of ours, whose details stay out of the response).
 */
async function errorHandler(app: FastifyInstance, options: ErrorHandlerOptions): Promise<void> {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const known = isWebhookError(err);
    const status = known ? err.statusCode : (err.statusCode ?? 500);
    const code = known ? err.code : stableCode(err.code, status);
    options.metrics.rejected.inc({ reason: code });
    if (status >= 500 && !known) request.log.error({ err, code }, 'request failed');
    else request.log.warn({ code, reason: err.message, cluster: (request.params as { cluster?: string }).cluster, remoteAddress: request.ip }, 'request rejected');
    if (known) void reply.headers(responseHeadersOf(err.code));
    const reason =
      code === 'CRTRAIL_ERR_UNSUPPORTED_MEDIA_TYPE'
        ? `content-type ${JSON.stringify(request.headers['content-type'] ?? '')} is not supported: send application/json`
        : code === 'CRTRAIL_ERR_BODY_TOO_LARGE'
          ? `body larger than the limit of ${options.bodyLimit} bytes (CRTRAIL_BODY_LIMIT)`
          : status >= 500 && !known
            ? 'internal error'
            : err.message;
    void reply.code(status).send({ error: code, reason, statusCode: status });
  });
}

export const errorHandlerPlugin = fp(errorHandler, { name: 'crtrail-error-handler', fastify: '5.x' });
