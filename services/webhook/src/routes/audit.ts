import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { validateEventList, type AuditEvent } from '@crtrail/audit';
import { isCustomResourceMutation, type FilterOptions } from '@crtrail/filter';
import { JOB_BOUNDS, splitEvents, type BatchJob, type JobBounds } from '@crtrail/queue';
import { boundedLabel } from '@crtrail/telemetry';
import { resolveCluster, type WebhookAuth } from '../auth.js';
import { ReplicasBehindError, type BatchSink } from '../batch-sink.js';
import { CLUSTER_NAME } from '../cluster.js';
import { errors } from '../errors.js';
import type { WebhookMetrics } from '../metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The cluster this request's batch is filed under, decided by {@link identify}. */
    cluster: string;
    /** process.hrtime of the request's arrival: ack latency is measured from here. */
    arrivedAt: bigint;
  }
}

/** What the audit routes need: where batches go, who may send, and what is kept of them. */
export interface AuditRouteOptions {
  sink: BatchSink;
  metrics: WebhookMetrics;
  /** TLS client certificates and bearer tokens; none = every sender may name any cluster. */
  auth: WebhookAuth;
  /** The cluster of `POST /audit` without credentials naming one. */
  defaultCluster: string;
  /** Which events are kept (the worker's filter, applied before the queue). */
  filter?: FilterOptions | undefined;
  /** Replaces secret values by their salted hashes before the batch is written. */
  redact?: ((event: AuditEvent) => AuditEvent) | undefined;
  /** Runs on the kept events before `redact`: learns and loads the resource → kind table. */
  prepareRedaction?: ((events: AuditEvent[]) => Promise<void>) | undefined;
  /** How a batch's kept events are cut into jobs (default {@link JOB_BOUNDS}). */
  jobBounds?: JobBounds | undefined;
}

/** The routes' options, resolved once. */
export interface AuditIntake extends AuditRouteOptions {
  jobBounds: JobBounds;
  /** Any `POST /audit/<name>` names a cluster: the label keeps the default one and the first 100 others. */
  clusterLabel: (cluster: string) => string;
}

/**
 * onRequest of the audit routes. Who may send for which cluster is decided from the credentials and
 * the path alone, before the body is read: an unauthenticated client cannot make us inflate or parse
 * 32 MiB, and over the backpressure limit a body that could not be queued is not read either.
 */
export async function identify(intake: AuditIntake, request: FastifyRequest): Promise<void> {
  // Ack latency is what the apiserver waits: from the request's arrival, body transfer and parse included.
  request.arrivedAt = process.hrtime.bigint();
  const cluster = resolveCluster(request, intake.auth, (request.params as { cluster?: string }).cluster, intake.defaultCluster);
  if (!CLUSTER_NAME.test(cluster)) throw new errors.CRTRAIL_ERR_INVALID_CLUSTER(JSON.stringify(cluster));
  request.server.backpressure.check();
  request.cluster = cluster;
}

/**
 * Handler of the audit routes: validates the EventList, keeps the custom-resource mutations,
 * redacts them, writes them as bounded jobs through the sink, and acks `{accepted: n}` (all events
 * of the batch, kept or not) only once the sink has them.
 */
export async function receive(intake: AuditIntake, request: FastifyRequest): Promise<{ accepted: number }> {
  const { metrics } = intake;
  const started = request.arrivedAt;
  const cluster = request.cluster;
  // Read again: the queue may have filled while the body was being sent.
  request.server.backpressure.check();
  const checked = validateEventList(request.body);
  if (!checked.ok) throw new errors.CRTRAIL_ERR_INVALID_BATCH(checked.reason);
  const events = checked.value.items;
  metrics.received.inc(events.length);
  // Only custom-resource mutations are ever recorded; the ~95 % rest (reads, built-in resources,
  // early stages) is dropped here rather than stored in Redis only for the worker to drop it.
  const mutations = events.filter((e) => isCustomResourceMutation(e, intake.filter));
  if (intake.prepareRedaction && mutations.length > 0) {
    await intake.prepareRedaction(mutations).catch((err: Error) => Promise.reject(new errors.CRTRAIL_ERR_QUEUE_UNAVAILABLE(err.message)));
  }
  const kept = intake.redact ? mutations.map(intake.redact) : mutations;
  if (kept.length > 0) {
    // Bounded jobs, so no worker ever has to hold a 20 MB batch at once; all written at once, so
    // the 200 means all of them are stored, and a 503 means none is.
    // Redaction may lengthen a value (a salted hash in place of a short secret): ×2 of room.
    const rawBytes = request.bodyBytes;
    const chunks = splitEvents(kept, intake.jobBounds, rawBytes === undefined ? undefined : rawBytes * (intake.redact ? 2 : 1));
    const receivedAt = Date.now();
    const batch = chunks.length > 1 ? randomUUID() : undefined;
    const jobs: BatchJob[] = chunks.map((c, i) => ({ cluster, receivedAt, events: c.events, ...(batch ? { batch, part: i + 1, parts: chunks.length } : {}) }));
    try {
      await intake.sink.add(jobs);
    } catch (err) {
      if (err instanceof ReplicasBehindError) throw new errors.CRTRAIL_ERR_REPLICAS_BEHIND(err.acked, err.wanted, err.waitedMs);
      throw new errors.CRTRAIL_ERR_QUEUE_UNAVAILABLE((err as Error).message);
    }
    metrics.jobsPerBatch.observe(chunks.length);
    for (const c of chunks) metrics.jobBytes.observe(c.bytes);
  }
  metrics.enqueued.inc(kept.length);
  metrics.accepted.inc({ cluster: intake.clusterLabel(cluster) }, events.length);
  metrics.batchSize.observe(events.length);
  metrics.ackLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
  return { accepted: events.length };
}

/** `POST /audit` and `POST /audit/<cluster>`: kube-apiserver's webhook backend. */
export async function auditRoutes(app: FastifyInstance, options: AuditRouteOptions): Promise<void> {
  const intake: AuditIntake = {
    ...options,
    jobBounds: options.jobBounds ?? JOB_BOUNDS,
    clusterLabel: boundedLabel([options.defaultCluster]),
  };
  app.decorateRequest('cluster', '');
  app.decorateRequest('arrivedAt', 0n);
  const route = {
    onRequest: (request: FastifyRequest) => identify(intake, request),
    handler: (request: FastifyRequest) => receive(intake, request),
  };
  app.post('/audit', route);
  app.post('/audit/:cluster', route);
}
