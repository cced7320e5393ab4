import { randomUUID } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import type { TLSSocket } from 'node:tls';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Queue } from 'bullmq';
import sjson from 'secure-json-parse';
import type { Redis } from 'ioredis';
import { validateEventList, type AuditEvent } from '@crtrail/audit';
import { isCustomResourceMutation, type FilterOptions } from '@crtrail/filter';
import { JOB_BOUNDS, JOB_NAME, addJobsAtomically, persistenceWarning, redisPersistence, splitEvents, type BatchJob, type JobBounds } from '@crtrail/queue';
import { resolveCluster, type WebhookAuth } from './auth.js';
import { CLUSTER_NAME } from './cluster.js';
import { errors, WebhookError } from './errors.js';
import { createWebhookMetrics, type WebhookMetrics } from './metrics.js';
import { boundedLabel } from '@crtrail/telemetry';
import { invalidUtf8Offset } from './utf8.js';

/** How long /readyz waits for Redis before calling it unreachable. */
const READY_PING_TIMEOUT_MS = 1_000;
/** Deeper JSON than any Kubernetes object: a 400, before anything recursive (BullMQ's stringify) sees it. */
export const MAX_JSON_DEPTH = 128;
/** How often the queue's waiting count is read for backpressure (not once per request). */
const WAITING_REFRESH_MS = 200;
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
/** How long `WAIT <replicas>` may wait for replicas to confirm a batch before the answer is 503. */
export const WAIT_REPLICAS_TIMEOUT_MS = 1_000;

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

/** Whether a parsed JSON value nests more than `limit` objects/arrays deep (the root counts as 1). */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  return deeperThan(value, limit);
}

/**
 * Recursion here is bounded by `limit` itself (it returns as soon as it is reached), so it cannot
 * overflow the stack the way an unbounded walk of a 10,000-level body would; and unlike an explicit
 * stack of [node, depth] pairs it allocates nothing per node (0.52 → 0.29 ms on a 468 KB batch).
 */
function deeperThan(v: unknown, left: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (left === 0) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const c: unknown = v[i];
      if (typeof c === 'object' && c !== null && deeperThan(c, left - 1)) return true;
    }
    return false;
  }
  for (const k in v) {
    const c: unknown = (v as Record<string, unknown>)[k];
    if (typeof c === 'object' && c !== null && deeperThan(c, left - 1)) return true;
  }
  return false;
}

export interface WebhookOptions {
  queue: Queue<BatchJob>;
  /** The Redis connection used for readiness checks. */
  redis: Redis;
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
  /** TLS (HTTPS, optionally requiring client certificates) and bearer tokens; none = plain HTTP, open. */
  auth?: WebhookAuth;
  /** How a batch's kept events are cut into jobs (default {@link JOB_BOUNDS}). */
  jobBounds?: JobBounds;
  /**
   * After writing a batch, `WAIT` for this many replicas to have it (CRTRAIL_REDIS_WAIT_REPLICAS);
   * fewer within {@link WAIT_REPLICAS_TIMEOUT_MS} (or `waitTimeoutMs`) → 503. 0 = do not wait.
   */
  waitReplicas?: number;
  waitTimeoutMs?: number;
  /** The Redis URL, as named in /readyz's persistence warning (password hidden). */
  redisUrl?: string;
  /** Server time limits (defaults {@link HEADERS_TIMEOUT_MS}, {@link REQUEST_TIMEOUT_MS}, {@link CONNECTIONS_CHECKING_INTERVAL_MS}); tests shorten them. */
  timeouts?: { headersMs?: number; requestMs?: number; checkingIntervalMs?: number };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The audit webhook: takes `audit.k8s.io/v1` EventList batches as kube-apiserver's webhook backend
 * POSTs them and acks `200 {"accepted": n}` only once the batch is a job in Redis.
 */
export function buildWebhook(options: WebhookOptions): FastifyInstance {
  const metrics = options.metrics ?? createWebhookMetrics();
  // Any `POST /audit/<name>` names a cluster: the label keeps the default one and the first 100 others.
  const clusterLabel = boundedLabel([options.defaultCluster]);
  const logger = options.logger ?? false;
  const isInstance = typeof logger === 'object' && typeof (logger as FastifyBaseLogger).child === 'function';
  const auth = options.auth ?? {};
  const headersTimeout = options.timeouts?.headersMs ?? HEADERS_TIMEOUT_MS;
  const requestTimeout = options.timeouts?.requestMs ?? REQUEST_TIMEOUT_MS;
  // Node server options (http and https alike): without connectionsCheckingInterval the timeouts
  // above are only checked every 30 s.
  const nodeServer = { connectionsCheckingInterval: options.timeouts?.checkingIntervalMs ?? CONNECTIONS_CHECKING_INTERVAL_MS, headersTimeout, requestTimeout };
  const common = {
    ...(isInstance ? { loggerInstance: logger as FastifyBaseLogger } : { logger: logger as FastifyServerOptions['logger'] }),
    bodyLimit: options.bodyLimit,
    requestTimeout,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // Fastify's two info lines per request would bury everything else (10 batches/s per apiserver):
    // one debug line per request instead, below; rejections are logged at warn by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
  };
  const tls = auth.tls;
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
  if (tls) {
    // Handshake failures never become requests: count and log them here, or they would be invisible.
    app.server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      metrics.rejected.inc({ reason: 'CRTRAIL_ERR_TLS_HANDSHAKE' });
      app.log.warn({ code: 'CRTRAIL_ERR_TLS_HANDSHAKE', reason: err.code ?? err.message, remoteAddress: socket.remoteAddress }, 'TLS handshake rejected');
      socket.destroy();
    });
  }

  // `Content-Encoding: gzip` is inflated as a stream; Fastify counts the *inflated* bytes against
  // the body limit, so a gzip bomb ends as a 413 after bodyLimit bytes, never inflated in full.
  app.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = String(request.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding === 'identity') return payload;
    if (encoding !== 'gzip') throw errors.unsupportedEncoding(encoding);
    const inflated = payload.pipe(createGunzip());
    payload.on('error', (e) => inflated.destroy(e));
    (inflated as unknown as { receivedEncodedLength: number }).receivedEncodedLength = 0;
    payload.on('data', (c: Buffer) => {
      (inflated as unknown as { receivedEncodedLength: number }).receivedEncodedLength += c.length;
    });
    return inflated;
  });

  // Backpressure: while the workers are behind, refuse fast with Retry-After (the apiserver retries)
  // rather than queue without bound. The waiting count is refreshed in the background.
  let waiting = 0;
  const refreshWaiting = (): Promise<void> =>
    options.queue.getWaitingCount().then(
      (n) => {
        waiting = n;
        metrics.queueWaiting.set(n);
      },
      () => {},
    );
  const waitingTimer = options.maxWaiting ? setInterval(refreshWaiting, WAITING_REFRESH_MS) : undefined;
  waitingTimer?.unref();
  app.addHook('onClose', async () => clearInterval(waitingTimer));

  // Graceful shutdown: server.close() reaps only the keep-alive connections idle at that moment. One
  // busy with a request would, after its response, idle on for KEEP_ALIVE_TIMEOUT_MS and hold close()
  // (and the process) that long. So once closing, every response says `Connection: close`, and the
  // connection it leaves idle is reaped right after.
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

  // The parsed body's size (inflated): re-serializing parsed JSON hardly ever makes it longer (only
  // numbers such as 1e5 grow, by a few bytes), so it bounds the kept events' JSON and spares
  // measuring them when a batch fits one job anyway.
  const bodyBytesOf = new WeakMap<FastifyRequest, number>();
  // JSON bodies go through secure-json-parse: `__proto__` / `constructor.prototype` keys are a 400,
  // never an object whose prototype an attacker chose. Only JSON is parsed: any other type is a 415.
  app.removeAllContentTypeParsers();
  // Parsed from the raw bytes: decoding them as a string first would turn invalid UTF-8 into U+FFFD
  // silently, and store (and hash) text the apiserver never sent. isUtf8 is a SIMD scan (~0.1 ms per MB).
  app.addContentTypeParser(/^application\/([a-z0-9.+-]*\+)?json$/, { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    bodyBytesOf.set(request, bytes.length);
    if (!isUtf8(bytes)) {
      done(errors.invalidBatch(`body: invalid UTF-8 at byte ${invalidUtf8Offset(bytes)}`), undefined);
      return;
    }
    try {
      done(null, sjson.parse(bytes.toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      done(errors.invalidJson((err as Error).message), undefined);
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    const known = err instanceof WebhookError;
    const status = known ? err.statusCode : (err.statusCode ?? 500);
    const code = known ? err.code : stableCode(err.code, status);
    metrics.rejected.inc({ reason: code });
    if (status >= 500 && !known) request.log.error({ err, code }, 'request failed');
    else request.log.warn({ code, reason: err.message, cluster: (request.params as { cluster?: string }).cluster, remoteAddress: request.ip }, 'request rejected');
    if (known && err.retryAfterSeconds) reply.header('retry-after', String(err.retryAfterSeconds));
    if (known && err.headers) void reply.headers(err.headers);
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

  // Who may send for which cluster is decided from the credentials and the path alone, in onRequest:
  // before the body is read, so an unauthenticated client cannot make us inflate or parse 32 MiB.
  const clusterOf = new WeakMap<FastifyRequest, string>();
  const startedAt = new WeakMap<FastifyRequest, bigint>();
  const identify = async (request: FastifyRequest): Promise<void> => {
    // Ack latency is what the apiserver waits: from the request's arrival, body transfer and parse included.
    startedAt.set(request, process.hrtime.bigint());
    const cluster = resolveCluster(request, auth, (request.params as { cluster?: string }).cluster, options.defaultCluster);
    if (!CLUSTER_NAME.test(cluster)) throw errors.invalidCluster(cluster);
    // Over the limit: refuse before reading (and parsing) a body that could not be queued anyway.
    if (options.maxWaiting && waiting > options.maxWaiting) throw errors.queueFull(waiting);
    clusterOf.set(request, cluster);
  };

  const bounds = options.jobBounds ?? JOB_BOUNDS;
  const waitReplicas = options.waitReplicas ?? 0;
  const waitTimeoutMs = options.waitTimeoutMs ?? WAIT_REPLICAS_TIMEOUT_MS;
  const receive = async (request: FastifyRequest) => {
    const started = startedAt.get(request) ?? process.hrtime.bigint();
    const cluster = clusterOf.get(request)!;
    const body = request.body;
    if (options.maxWaiting && waiting > options.maxWaiting) throw errors.queueFull(waiting);
    if (jsonDepthExceeds(body, MAX_JSON_DEPTH)) throw errors.invalidBatch(`body: nested deeper than ${MAX_JSON_DEPTH} levels`);
    const checked = validateEventList(body);
    if (!checked.ok) throw errors.invalidBatch(checked.reason);
    const events = checked.value.items;
    metrics.received.inc(events.length);
    // Only custom-resource mutations are ever recorded; the ~95 % rest (reads, built-in resources,
    // early stages) is dropped here rather than stored in Redis only for the worker to drop it.
    const redact = options.redact ?? ((e: AuditEvent) => e);
    const mutations = events.filter((e) => isCustomResourceMutation(e, options.filter));
    if (options.prepareRedaction && mutations.length > 0) await options.prepareRedaction(mutations).catch((err: Error) => Promise.reject(errors.queueUnavailable(err.message)));
    const kept = mutations.map(redact);
    if (kept.length > 0) {
      // Bounded jobs, so no worker ever has to hold a 20 MB batch at once; all written in one
      // transaction, so the 200 means all of them are in Redis, and a 503 means none is.
      // Redaction may lengthen a value (a salted hash in place of a short secret): ×2 of room.
      const rawBytes = bodyBytesOf.get(request);
      const chunks = splitEvents(kept, bounds, rawBytes === undefined ? undefined : rawBytes * (options.redact ? 2 : 1));
      const receivedAt = Date.now();
      const batch = chunks.length > 1 ? randomUUID() : undefined;
      const jobs: BatchJob[] = chunks.map((c, i) => ({ cluster, receivedAt, events: c.events, ...(batch ? { batch, part: i + 1, parts: chunks.length } : {}) }));
      try {
        await addJobsAtomically(options.queue, JOB_NAME, jobs);
      } catch (err) {
        throw errors.queueUnavailable((err as Error).message);
      }
      if (waitReplicas > 0) {
        let acked: number;
        try {
          // On the connection that wrote the jobs: WAIT counts replicas that have this client's writes.
          const client = (await options.queue.client) as unknown as Redis;
          acked = Number(await client.call('WAIT', String(waitReplicas), String(waitTimeoutMs)));
        } catch (err) {
          throw errors.queueUnavailable(`WAIT for replicas: ${(err as Error).message}`);
        }
        // The jobs stay in the primary: a retried batch is indexed twice at most, and record ids are
        // deterministic, so the second indexing overwrites the first.
        if (acked < waitReplicas) throw errors.replicasBehind(acked, waitReplicas, waitTimeoutMs);
      }
      metrics.jobsPerBatch.observe(chunks.length);
      for (const c of chunks) metrics.jobBytes.observe(c.bytes);
    }
    metrics.enqueued.inc(kept.length);
    metrics.accepted.inc({ cluster: clusterLabel(cluster) }, events.length);
    metrics.batchSize.observe(events.length);
    metrics.ackLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return { accepted: events.length };
  };

  app.post('/audit', { onRequest: identify }, async (request) => receive(request));
  app.post('/audit/:cluster', { onRequest: identify }, async (request) => receive(request));
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  app.addHook('onRequest', async (request) => {
    if (request.method === 'POST') metrics.bodyBytes.inc(Number(request.headers['content-length'] ?? 0));
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await withTimeout(options.redis.ping(), READY_PING_TIMEOUT_MS, 'redis ping');
    } catch (err) {
      return reply.code(503).header('retry-after', '5').send({ status: 'unavailable', reason: (err as Error).message });
    }
    // Ready either way; the body says whether that Redis would keep an acked batch across its restart.
    try {
      const redis = await withTimeout(redisPersistence(options.redis), READY_PING_TIMEOUT_MS, 'redis persistence');
      const warning = persistenceWarning(options.redisUrl ?? '(this webhook\'s connection)', redis);
      return { status: 'ready', redis, ...(warning ? { warning } : {}) };
    } catch (err) {
      return { status: 'ready', redis: { unknown: true, how: `could not read: ${(err as Error).message}` } };
    }
  });
  app.get('/metrics', async (_request, reply) => {
    // Queue depth as of this scrape (bounded: a Redis outage must not hang the scrape).
    await withTimeout(refreshWaiting(), READY_PING_TIMEOUT_MS, 'queue depth').catch(() => {});
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  return app;
}
