import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { IntakeError } from '@crtrail/intake';
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

/** A refusal as it is answered: status, stable code, the reason a client may read, and the headers its status requires. */
export interface Refusal {
  status: number;
  code: string;
  reason: string;
  headers: Readonly<Record<string, string>>;
}

/**
 * What a refusal (ours, Fastify's or an intake's) is answered with, counted in
 * `crtrail_webhook_batches_rejected_total{reason}` and logged once (warn; error for a failure of
 * ours, whose details stay out of the response). Shared by the root error handler and the intake
 * routes, which answer in their provider's body shape but count and log the same way.
 */
export function refusalOf(err: FastifyError, request: FastifyRequest, options: ErrorHandlerOptions): Refusal {
  const known = isWebhookError(err);
  const status = known ? err.statusCode : (err.statusCode ?? 500);
  const code = known ? err.code : stableCode(err.code, status);
  options.metrics.rejected.inc({ reason: code });
  if (status >= 500 && !known) request.log.error({ err, code }, 'request failed');
  else
    request.log.warn(
      {
        code,
        reason: err.message,
        cluster: (request.params as { cluster?: string }).cluster,
        remoteAddress: request.ip,
      },
      'request rejected',
    );
  const reason =
    code === 'CRTRAIL_ERR_UNSUPPORTED_MEDIA_TYPE'
      ? `content-type ${JSON.stringify(request.headers['content-type'] ?? '')} is not supported: send application/json`
      : code === 'CRTRAIL_ERR_BODY_TOO_LARGE'
        ? `body larger than the limit of ${options.bodyLimit} bytes (CRTRAIL_BODY_LIMIT)`
        : status >= 500 && !known
          ? 'internal error'
          : err.message;
  // An intake's refusal names the headers its status requires (WWW-Authenticate with an OIDC 401).
  return {
    status,
    code,
    reason,
    headers: known ? responseHeadersOf(err.code) : err instanceof IntakeError ? (err.headers ?? {}) : {},
  };
}

/**
 * Every refusal, ours or Fastify's, answers `{error, reason, statusCode}` with a `CRTRAIL_ERR_*`
 * code (see {@link refusalOf}).
 */
async function errorHandler(app: FastifyInstance, options: ErrorHandlerOptions): Promise<void> {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { status, code, reason, headers } = refusalOf(err, request, options);
    void reply.headers(headers);
    void reply.code(status).send({ error: code, reason, statusCode: status });
  });
}

export const errorHandlerPlugin = fp(errorHandler, { name: 'crtrail-error-handler', fastify: '5.x' });
