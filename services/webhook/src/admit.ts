import { randomUUID } from 'node:crypto';
import { validateEventList, type AuditEvent } from '@crtrail/audit';
import { CLUSTER_NAME } from '@crtrail/config';
import { isCustomResourceMutation, type FilterOptions } from '@crtrail/filter';
import { JOB_BOUNDS, splitBySize, type JobBounds } from '@crtrail/queue';
import { boundedLabel } from '@crtrail/telemetry';
import { ReplicasBehindError, type BatchSink } from './batch-sink.js';
import { errors } from './errors.js';
import { encodeBatchJob } from './job-bytes.js';
import type { WebhookMetrics } from './metrics.js';
import type { BodySource } from './plugins/body.js';
import { countKeys } from './plugins/json-shape.js';
import type { Backpressure } from './plugins/backpressure.js';

/** What every route that takes audit events needs: where they go and what is kept of them. */
export interface AdmissionOptions {
  sink: BatchSink;
  metrics: WebhookMetrics;
  /** Which events are kept (the worker's filter, applied before the queue). */
  filter?: FilterOptions | undefined;
  /** Replaces secret values by their salted hashes before the batch is written. */
  redact?: ((event: AuditEvent) => AuditEvent) | undefined;
  /** Runs on the kept events before `redact`: learns and loads the resource → kind table. */
  prepareRedaction?: ((events: AuditEvent[]) => Promise<void>) | undefined;
  /** How a batch's kept events are cut into jobs (default {@link JOB_BOUNDS}). */
  jobBounds?: JobBounds | undefined;
}

/** {@link AdmissionOptions} resolved once, shared by `/audit` and the provider intakes. */
export interface Admission extends AdmissionOptions {
  jobBounds: JobBounds;
  /** Any path names a cluster: the label keeps the default one and the first 100 others. */
  clusterLabel: (cluster: string) => string;
}

/** One batch as a route hands it over: the cluster it is filed under and the EventList as received. */
export interface AdmittedBatch {
  cluster: string;
  /** The EventList (not yet checked). */
  body: unknown;
  /** The bytes `body` was parsed from (see `request.bodySource`); undefined = serialize the kept events. */
  source?: BodySource | undefined;
  /** process.hrtime of the request's arrival: ack latency is measured from here. */
  arrivedAt: bigint;
  /**
   * Called once the batch's jobs are encoded, before they are written: the route drops what it holds
   * of the body (`admitBatch` clears `body` and `source` here too).
   */
  release?: (() => void) | undefined;
}

/** Resolves the options once; `defaultCluster` is the one label always kept. */
export function createAdmission(options: AdmissionOptions, defaultCluster: string): Admission {
  return { ...options, jobBounds: options.jobBounds ?? JOB_BOUNDS, clusterLabel: boundedLabel([defaultCluster]) };
}

/** The cluster a path names, checked against the one cluster-name pattern (400 otherwise). */
export function checkClusterName(cluster: string): string {
  if (!CLUSTER_NAME.test(cluster)) throw new errors.CRTRAIL_ERR_INVALID_CLUSTER(JSON.stringify(cluster));
  return cluster;
}

/**
 * The one path from a received batch to the queue, for `/audit` and every intake alike: backpressure
 * (again: the queue may have filled while the body was sent), the EventList schema, the custom-resource
 * filter, redaction, bounded jobs written atomically through the sink, and the metrics. Resolves with
 * the batch's event count (kept or not) only once the sink has every job; throws a webhook error
 * (429, 400, 503) having written nothing, or CRTRAIL_ERR_REPLICAS_BEHIND having written all.
 */
export async function admitBatch(
  admission: Admission,
  backpressure: Backpressure,
  batch: AdmittedBatch,
): Promise<{ accepted: number }> {
  const { metrics } = admission;
  const { cluster, arrivedAt } = batch;
  const { received, kept, jobs, jobBytes } = await encodeBatch(admission, backpressure, batch);
  // The jobs are copies: the body's bytes and its parsed events are garbage from here on, while the
  // jobs go to Redis — a big body would otherwise stay alive, next to its jobs, until the ack.
  batch.body = undefined;
  batch.source = undefined;
  batch.release?.();
  if (jobs.length > 0) {
    try {
      await admission.sink.add(jobs);
    } catch (err) {
      if (err instanceof ReplicasBehindError)
        throw new errors.CRTRAIL_ERR_REPLICAS_BEHIND(err.acked, err.wanted, err.waitedMs);
      throw new errors.CRTRAIL_ERR_QUEUE_UNAVAILABLE((err as Error).message);
    }
    metrics.jobsPerBatch.observe(jobs.length);
    for (const bytes of jobBytes) metrics.jobBytes.observe(bytes);
  }
  metrics.enqueued.inc(kept);
  metrics.accepted.inc({ cluster: admission.clusterLabel(cluster) }, received);
  metrics.batchSize.observe(received);
  metrics.ackLatency.observe(Number(process.hrtime.bigint() - arrivedAt) / 1e9);
  return { accepted: received };
}

/** A batch made ready for the sink: its counts and its jobs; nothing of the parsed body. */
interface EncodedBatch {
  /** Events in the batch, kept or not. */
  received: number;
  /** Events kept (custom-resource mutations). */
  kept: number;
  /** Each job's UTF-8 JSON, and its `bytes` (the events' size, as JobBounds measure it). */
  jobs: Buffer[];
  jobBytes: number[];
}

/**
 * Backpressure, the schema, the filter, redaction and the jobs of {@link admitBatch}, in a function of
 * their own so that the parsed events and the spans end with it (nothing of them is held across the
 * write to the sink).
 */
async function encodeBatch(
  admission: Admission,
  backpressure: Backpressure,
  batch: AdmittedBatch,
): Promise<EncodedBatch> {
  backpressure.check();
  const checked = validateEventList(batch.body);
  if (!checked.ok) throw new errors.CRTRAIL_ERR_INVALID_BATCH(checked.reason);
  const events = checked.value.items;
  admission.metrics.received.inc(events.length);
  // Only custom-resource mutations are ever recorded; the ~95 % rest (reads, built-in resources,
  // early stages) is dropped here rather than stored in Redis only for the worker to drop it.
  const mutations: AuditEvent[] = [];
  const positions: number[] = [];
  for (let i = 0; i < events.length; i++) {
    if (isCustomResourceMutation(events[i]!, admission.filter)) {
      mutations.push(events[i]!);
      positions.push(i);
    }
  }
  if (mutations.length === 0) return { received: events.length, kept: 0, jobs: [], jobBytes: [] };
  if (admission.prepareRedaction) {
    await admission
      .prepareRedaction(mutations)
      .catch((err: Error) => Promise.reject(new errors.CRTRAIL_ERR_QUEUE_UNAVAILABLE(err.message)));
  }
  const encoded = encodeEvents(mutations, positions, admission.redact, batch.source, events.length);
  // Bounded jobs, so no worker ever has to hold a 20 MB batch at once; all written at once, so
  // the 200 means all of them are stored, and a 503 means none is.
  const chunks = splitBySize(
    encoded,
    encoded.map((e) => e.length),
    admission.jobBounds,
  );
  const receivedAt = Date.now();
  const id = chunks.length > 1 ? randomUUID() : undefined;
  const jobs = chunks.map((c, i) =>
    encodeBatchJob(
      {
        cluster: batch.cluster,
        receivedAt,
        bytes: c.bytes,
        ...(id ? { batch: id, part: i + 1, parts: chunks.length } : {}),
      },
      c.events,
    ),
  );
  return { received: events.length, kept: mutations.length, jobs, jobBytes: chunks.map((c) => c.bytes) };
}

/**
 * Each kept event's JSON bytes, as its job will carry them. An event redaction left alone is the
 * span of the body the apiserver sent (the same value to the worker's JSON.parse, without
 * serializing it again); a redacted one, one from an intake (its body is not an EventList), one
 * whose numbers would not read back the same (see `ItemSpans.reserialize`) or one with a repeated
 * key (see `ItemSpans.keys`) is serialized.
 */
function encodeEvents(
  events: readonly AuditEvent[],
  positions: readonly number[],
  redact: ((event: AuditEvent) => AuditEvent) | undefined,
  source: BodySource | undefined,
  itemCount: number,
): Buffer[] {
  // The spans are of the body's root `items`, the array validated: one span per item, or none used.
  const bytes = source?.bytes;
  const items = source?.items && source.items.spans.length === 2 * itemCount ? source.items : undefined;
  const out: Buffer[] = [];
  for (let k = 0; k < events.length; k++) {
    const event = events[k]!;
    const kept = redact ? redact(event) : event;
    const at = positions[k]!;
    if (kept === event && bytes && items && !items.reserialize.has(at) && items.keys[at] === countKeys(event)) {
      out.push(bytes.subarray(items.spans[2 * at], items.spans[2 * at + 1]));
    } else {
      out.push(Buffer.from(JSON.stringify(kept)));
    }
  }
  return out;
}
