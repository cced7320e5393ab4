import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyServerOptions,
} from 'fastify';
import type { AuditEvent } from '@crtrail/audit';
import type { FilterOptions } from '@crtrail/filter';
import type { JobBounds } from '@crtrail/queue';
import { createAdmission } from './admit.js';
import type { WebhookAuth } from './auth.js';
import type { BatchSink } from './batch-sink.js';
import { createWebhookMetrics, type WebhookMetrics } from './metrics.js';
import { backpressurePlugin } from './plugins/backpressure.js';
import { bodyPlugin } from './plugins/body.js';
import { errorHandlerPlugin } from './plugins/error-handler.js';
import { gracefulClosePlugin } from './plugins/graceful-close.js';
import { requestLogPlugin } from './plugins/request-log.js';
import { tlsRejectionsPlugin } from './plugins/tls-rejections.js';
import { auditRoutes } from './routes/audit.js';
import { healthRoutes } from './routes/health.js';
import { firehoseIntakeRoutes } from './routes/intake-firehose.js';
import { pubsubIntakeRoutes } from './routes/intake-pubsub.js';

/**
 * Server-side time limits: a client must send its headers within HEADERS_TIMEOUT_MS and its whole
 * request within REQUEST_TIMEOUT_MS (slowloris), below the apiserver's own 30 s client timeout ×2.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 60_000;
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/**
 * How often Node checks connections against headersTimeout/requestTimeout. Node's default (30 s)
 * lets a 10 s headers timeout fire only after 36–39 s; at 1 s a slow client is cut within ~1 s of it.
 * The check walks the open connections only, so 1 s costs nothing measurable.
 */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

export interface WebhookOptions {
  /** Where accepted batches go (the Redis queue in production: `RedisBatchSink`). */
  sink: BatchSink;
  defaultCluster: string;
  bodyLimit: number;
  /** Which events are kept (the worker's filter, applied before the queue). */
  filter?: FilterOptions;
  /** Replaces secret values by their salted hashes before the batch is written to Redis. */
  redact?: (event: AuditEvent) => AuditEvent;
  /** Runs on the kept events before `redact`: learns and loads the resource → kind table (one Redis round trip). */
  prepareRedaction?: (events: AuditEvent[]) => Promise<void>;
  /** Answer 429 while more than this many batches wait in the queue (the worker is behind). */
  maxWaiting?: number;
  /** Server limits: concurrent connections (0 = unlimited). */
  maxConnections?: number;
  /** A pino logger to use (or `false`/a fastify logger config). */
  logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
  metrics?: WebhookMetrics;
  /** TLS (HTTPS, optionally requiring client certificates), bearer tokens and the intakes' credentials; none = plain HTTP, open, no intakes. */
  auth?: WebhookAuth;
  /** How a batch's kept events are cut into jobs (default `JOB_BOUNDS`). */
  jobBounds?: JobBounds;
  /** Server time limits (defaults {@link HEADERS_TIMEOUT_MS}, {@link REQUEST_TIMEOUT_MS}, {@link CONNECTIONS_CHECKING_INTERVAL_MS}); tests shorten them. */
  timeouts?: { headersMs?: number; requestMs?: number; checkingIntervalMs?: number };
}

/** The Fastify instance, over HTTPS when `auth.tls` is set, with its server-side limits. */
function createServer(options: WebhookOptions): FastifyInstance {
  const logger = options.logger ?? false;
  const isInstance = typeof logger === 'object' && typeof (logger as FastifyBaseLogger).child === 'function';
  const headersTimeout = options.timeouts?.headersMs ?? HEADERS_TIMEOUT_MS;
  const requestTimeout = options.timeouts?.requestMs ?? REQUEST_TIMEOUT_MS;
  // Node server options (http and https alike): without connectionsCheckingInterval the timeouts
  // above are only checked every 30 s.
  const nodeServer = {
    connectionsCheckingInterval: options.timeouts?.checkingIntervalMs ?? CONNECTIONS_CHECKING_INTERVAL_MS,
    headersTimeout,
    requestTimeout,
  };
  const common = {
    ...(isInstance
      ? { loggerInstance: logger as FastifyBaseLogger }
      : { logger: logger as FastifyServerOptions['logger'] }),
    bodyLimit: options.bodyLimit,
    requestTimeout,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // One debug line per request instead of Fastify's two at info (plugins/request-log).
    logController: new LogController({ disableRequestLogging: true }),
  };
  const tls = options.auth?.tls;
  // The https overload types the instance with https.Server; routes and hooks do not depend on the
  // server type, and what is used of `app.server` (timeouts, maxConnections, events) both have.
  const app: FastifyInstance = tls
    ? (Fastify({
        ...common,
        https: {
          ...nodeServer,
          cert: tls.cert,
          key: tls.key,
          // mTLS: a client without a certificate, or with one from another CA, fails the handshake:
          // it never reaches a route, let alone the body parser.
          ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
        },
      }) as unknown as FastifyInstance)
    : Fastify({ ...common, http: nodeServer });
  app.server.headersTimeout = headersTimeout;
  if (options.maxConnections) app.server.maxConnections = options.maxConnections;
  return app;
}

/**
 * The audit webhook: takes `audit.k8s.io/v1` EventList batches as kube-apiserver's webhook backend
 * POSTs them and acks `200 {"accepted": n}` only once the batch is in the sink; the same for the
 * EKS (Firehose) and GKE (Pub/Sub) intakes when configured. Assembly only: the behaviour is in
 * plugins/ (how bodies are read, errors answered, shutdown, backpressure), admit.ts (the one path
 * to the sink) and routes/ (audit, intakes, health).
 */
export function buildWebhook(options: WebhookOptions): FastifyInstance {
  const metrics = options.metrics ?? createWebhookMetrics();
  const auth = options.auth ?? {};
  const { sink } = options;
  const app = createServer(options);
  // Root-level plugins (fastify-plugin) first: the route plugins below inherit their hooks,
  // parser, error handler and decorators.
  if (auth.tls) void app.register(tlsRejectionsPlugin, { metrics });
  void app.register(bodyPlugin, { bodyLimit: options.bodyLimit });
  void app.register(errorHandlerPlugin, { metrics, bodyLimit: options.bodyLimit });
  void app.register(gracefulClosePlugin);
  void app.register(backpressurePlugin, { sink, metrics, maxWaiting: options.maxWaiting });
  void app.register(requestLogPlugin, { metrics });
  // One admission path (filter, redaction, bounded jobs, the sink, the metrics) for /audit and the intakes.
  const admission = createAdmission(
    {
      sink,
      metrics,
      filter: options.filter,
      redact: options.redact,
      prepareRedaction: options.prepareRedaction,
      jobBounds: options.jobBounds,
    },
    options.defaultCluster,
  );
  void app.register(auditRoutes, { admission, auth, defaultCluster: options.defaultCluster });
  // A provider intake exists only when its credentials are configured: otherwise its path is a 404.
  const intake = auth.intake;
  if (intake?.firehose)
    void app.register(firehoseIntakeRoutes, { admission, keys: intake.firehose, bodyLimit: options.bodyLimit });
  if (intake?.pubsub)
    void app.register(pubsubIntakeRoutes, { admission, auth: intake.pubsub, bodyLimit: options.bodyLimit });
  void app.register(healthRoutes, { sink, metrics });
  return app;
}
