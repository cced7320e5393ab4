/**
 * Every error the webhook answers with is made here, once, with its code and HTTP status
 * (the fastify habit): routes never build status codes by hand.
 */
export class WebhookError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    readonly retryAfterSeconds?: number,
    /** Response headers the status requires (e.g. `WWW-Authenticate` with a 401). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = 'WebhookError';
  }
}

export const errors = {
  invalidJson: (detail: string) => new WebhookError('CRTRAIL_ERR_INVALID_JSON', 400, `body is not valid JSON: ${detail}`),
  invalidBatch: (reason: string) => new WebhookError('CRTRAIL_ERR_INVALID_BATCH', 400, reason),
  invalidCluster: (name: string) =>
    new WebhookError('CRTRAIL_ERR_INVALID_CLUSTER', 400, `cluster name ${JSON.stringify(name)}: letters, digits, . _ - (max 63)`),
  unsupportedEncoding: (encoding: string) =>
    new WebhookError('CRTRAIL_ERR_UNSUPPORTED_ENCODING', 415, `content-encoding ${JSON.stringify(encoding)} is not supported: send identity or gzip`),
  queueFull: (waiting: number) =>
    new WebhookError('CRTRAIL_ERR_QUEUE_FULL', 429, `${waiting} batches are waiting for the workers; retry later`, 5),
  // RFC 6750: a 401 names the scheme the client must use.
  unauthorized: (reason: string) =>
    new WebhookError('CRTRAIL_ERR_UNAUTHORIZED', 401, reason, undefined, { 'www-authenticate': 'Bearer realm="crtrail"' }),
  forbidden: (reason: string) => new WebhookError('CRTRAIL_ERR_FORBIDDEN', 403, reason),
  replicasBehind: (acked: number, wanted: number, ms: number) =>
    new WebhookError(
      'CRTRAIL_ERR_REPLICAS_BEHIND',
      503,
      `batch written, but only ${acked} of ${wanted} Redis replicas confirmed it within ${ms} ms (CRTRAIL_REDIS_WAIT_REPLICAS); retry later`,
      5,
    ),
  queueUnavailable: (reason: string) => new WebhookError('CRTRAIL_ERR_QUEUE_UNAVAILABLE', 503, `queue unavailable: ${reason}`, 10),
} as const;
