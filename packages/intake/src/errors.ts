/**
 * Every error an intake answers with is made here, once, with its code and HTTP status (the
 * fastify habit, as in the webhook's errors.ts): converters and handlers never build status codes
 * by hand. A route maps an {@link IntakeError} to its status and the provider's response body.
 */
export class IntakeError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    /** Response headers the status requires (e.g. `WWW-Authenticate` with a 401). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = 'IntakeError';
  }
}

export const intakeErrors = {
  invalidJson: (where: string, detail: string) =>
    new IntakeError('CRTRAIL_ERR_INTAKE_INVALID_JSON', 400, `${where}: not valid JSON: ${detail}`),
  invalidBase64: (where: string) =>
    new IntakeError('CRTRAIL_ERR_INTAKE_INVALID_BASE64', 400, `${where}: not valid base64`),
  invalidGzip: (where: string, detail: string) =>
    new IntakeError('CRTRAIL_ERR_INTAKE_INVALID_GZIP', 400, `${where}: not valid gzip: ${detail}`),
  invalidShape: (where: string, reason: string) =>
    new IntakeError('CRTRAIL_ERR_INTAKE_INVALID_SHAPE', 400, `${where}: ${reason}`),
  invalidEvent: (reason: string) => new IntakeError('CRTRAIL_ERR_INTAKE_INVALID_EVENT', 400, reason),
  // Decompression is bounded: a small gzip bomb must not take the process down.
  tooLarge: (where: string, limit: number) =>
    new IntakeError('CRTRAIL_ERR_INTAKE_TOO_LARGE', 413, `${where}: more than ${limit} bytes once decompressed`),
  unsupportedEncoding: (encoding: string) =>
    new IntakeError(
      'CRTRAIL_ERR_INTAKE_UNSUPPORTED_ENCODING',
      415,
      `content-encoding ${JSON.stringify(encoding)} is not supported: send identity or gzip`,
    ),
  // RFC 6750 for bearer tokens; the Firehose key header has no scheme of its own to name.
  unauthorized: (reason: string, headers?: Record<string, string>) =>
    new IntakeError('CRTRAIL_ERR_UNAUTHORIZED', 401, reason, headers),
  forbidden: (reason: string) => new IntakeError('CRTRAIL_ERR_FORBIDDEN', 403, reason),
} as const;

/** The HTTP status of any error a sink or converter threw: its `statusCode` when it carries one, else 500. */
export function statusOf(err: unknown): number {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' && code >= 400 && code <= 599 ? code : 500;
}

/** What a handler answers for an error: its status, headers (the error's own, Retry-After) and message. */
export interface Refusal {
  status: number;
  headers: Record<string, string>;
  message: string;
  error: Error;
}

/**
 * The answer to an error thrown while handling a delivery: the status of {@link statusOf}, the
 * error's own headers and a `retry-after` from a sink's backpressure (`retryAfterSeconds`), over the
 * base headers. An unexpected error (500, not an {@link IntakeError}) says only `internalMessage`,
 * so nothing of its internals reaches the provider.
 */
export function refusalOf(err: unknown, baseHeaders: Record<string, string>, internalMessage: string): Refusal {
  const status = statusOf(err);
  const headers: Record<string, string> = {
    ...baseHeaders,
    ...(err instanceof IntakeError ? (err.headers ?? {}) : {}),
  };
  const retryAfter = (err as { retryAfterSeconds?: unknown } | null)?.retryAfterSeconds;
  if (typeof retryAfter === 'number') headers['retry-after'] = String(retryAfter);
  const message = status === 500 && !(err instanceof IntakeError) ? internalMessage : (err as Error).message;
  return { status, headers, message, error: err instanceof Error ? err : new Error(String(err)) };
}
