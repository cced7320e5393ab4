import { createHash } from 'node:crypto';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CrtrailConfig } from '@crtrail/config';
import {
  alertPlan,
  buildAlert,
  groupAlerts,
  objectKeyOf,
  recordFacts,
  routeRecord,
  sendToSink,
  singleMessage,
  SinkError,
  type Alert,
  type AlertMessage,
  type ResolvedSink,
} from '@crtrail/alerts';

/**
 * A job of `<prefix>-alerts`. `send`: one record's alert, at once. `flush`: the alerts collected for one
 * object while its group window was open, sent as one message when it closes.
 */
export type AlertJob =
  | { type: 'send'; sink: string; alert: Alert; enqueuedAt: number }
  | { type: 'flush'; sink: string; group: string; window: string; enqueuedAt: number };

/** The alert queue of a prefix, beside `<prefix>-batches`. */
export function alertQueueName(prefix: string): string {
  return `${prefix}-alerts`;
}

/** How long a record's "sent" marker is kept: a replay or re-drive within it never alerts again. */
export const SENT_MARKER_TTL_SECONDS = 30 * 86_400;

const keys = (prefix: string) => ({
  sent: (sink: string, recordId: string) => `${prefix}:alerts:sent:${sink}:${recordId}`,
  window: (sink: string, group: string) => `${prefix}:alerts:window:${sink}:${group}`,
  pending: (sink: string, group: string) => `${prefix}:alerts:group:${sink}:${group}`,
  flushing: (sink: string, group: string, window: string) => `${prefix}:alerts:flushing:${sink}:${group}:${window}`,
});

/**
 * KEYS[1] the record's sent marker, KEYS[2] window key, KEYS[3] pending list. ARGV[1] record id,
 * ARGV[2] window ms (0: no grouping), ARGV[3] alert JSON. Returns {2} when the record was alerted
 * already, {1} when it opens its object's window (send it now), else appends the alert to the window's
 * pending list and returns {0, ms left, the record id that opened the window}. Atomic, so two workers
 * never both open a window or lose an alert between them.
 */
const ROUTE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {2} end
if tonumber(ARGV[2]) == 0 then return {1} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[2]) * 10)
local left = redis.call('PTTL', KEYS[2])
if left < 0 then left = 0 end
return {0, left, redis.call('GET', KEYS[2]) or ARGV[1]}
`;

/**
 * KEYS[1] pending list, KEYS[2] this window's flushing list. Moves the pending alerts aside (once; a
 * retried flush finds them there) and returns them.
 */
const TAKE_LUA = `
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
  redis.call('RENAME', KEYS[1], KEYS[2])
end
return redis.call('LRANGE', KEYS[2], 0, -1)
`;

export interface AlertMetrics {
  sent: Counter<'sink'>;
  failed: Counter<'sink'>;
  dropped: Counter<'reason'>;
  grouped: Counter<'sink'>;
  latency: Histogram<'sink'>;
}

function createAlertMetrics(registry: Registry, queue: Queue<AlertJob>): AlertMetrics {
  const registers = [registry];
  new Gauge({
    name: 'crtrail_alerts_dead_letters',
    help: 'Alert messages that finally failed (the failed set of <prefix>-alerts)',
    registers,
    async collect() {
      this.set(await queue.getFailedCount().catch(() => 0));
    },
  });
  return {
    sent: new Counter({ name: 'crtrail_alerts_sent_total', help: 'Alert messages delivered, by sink', labelNames: ['sink'], registers }),
    failed: new Counter({ name: 'crtrail_alerts_failed_total', help: 'Alert messages dead-lettered after their last attempt, by sink', labelNames: ['sink'], registers }),
    dropped: new Counter({ name: 'crtrail_alerts_dropped_total', help: 'Alerts not sent, by reason (duplicate: already sent; enqueue_error: Redis refused; unknown_sink: its sink is no longer configured)', labelNames: ['reason'], registers }),
    grouped: new Counter({ name: 'crtrail_alerts_grouped_total', help: 'Alerts folded into a grouped message of their object, by sink', labelNames: ['sink'], registers }),
    latency: new Histogram({
      name: 'crtrail_alert_latency_seconds',
      help: 'From the record stored to its alert delivered',
      labelNames: ['sink'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900],
      registers,
    }),
  };
}

export interface AlertingOptions {
  redis: Redis;
  prefix: string;
  config: CrtrailConfig;
  kibanaUrl?: string | undefined;
  registry: Registry;
  log?: Logger | undefined;
  /** First retry delay (ms); doubles each attempt. */
  backoffMs?: number;
}

export interface Alerting {
  queue: Queue<AlertJob>;
  worker: Worker<AlertJob>;
  metrics: AlertMetrics;
  /** Evaluates the rules on records just stored and enqueues their alerts; never throws (the records are safe, an alert lost is logged and counted). */
  enqueue(cluster: string, records: ReadonlyArray<{ id: string; doc: Record<string, unknown> }>): Promise<void>;
  close(): Promise<void>;
}

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 24);

/**
 * Alert delivery: its own BullMQ queue `<prefix>-alerts` and a consumer. At least once (retries with
 * backoff, the failed set as dead letters) and once per record as the receiver sees it: the job id is
 * `<sink>.<record id>` while the job exists, and a `sent` marker (SET, kept {@link SENT_MARKER_TTL_SECONDS})
 * after it is removed. Per sink and object, alerts within `group_window_seconds` of the first one become
 * one message with a count. Resolves once the queue and the consumer are set up.
 */
export async function createAlerting(options: AlertingOptions): Promise<Alerting> {
  const { redis, prefix, config, log } = options;
  const plan = alertPlan(config);
  const sinks = new Map<string, ResolvedSink>(plan.sinks.map((s) => [s.name, s]));
  const k = keys(prefix);
  const windowMs = config.alerts.group_window_seconds * 1000;
  const queue = new Queue<AlertJob>(alertQueueName(prefix), {
    connection: redis,
    defaultJobOptions: {
      attempts: config.alerts.attempts,
      backoff: { type: 'exponential', delay: options.backoffMs ?? 1_000 },
      removeOnComplete: { count: 100 },
      // Finally failed messages stay: they are the dead letters (visible, re-drivable with `retry`).
      removeOnFail: false,
    },
  });
  const metrics = createAlertMetrics(options.registry, queue);

  async function deliver(sink: ResolvedSink, message: AlertMessage, enqueuedAt: number): Promise<void> {
    try {
      await sendToSink(sink, message);
    } catch (err) {
      if (err instanceof SinkError && !err.retryable) throw new UnrecoverableError(err.message);
      throw err;
    }
    const m = redis.multi();
    for (const id of message.record_ids) m.set(k.sent(sink.name, id), '1', 'EX', SENT_MARKER_TTL_SECONDS);
    await m.exec();
    metrics.sent.inc({ sink: sink.name });
    metrics.latency.observe({ sink: sink.name }, (Date.now() - enqueuedAt) / 1000);
  }

  async function unsent(sink: string, alerts: Alert[]): Promise<Alert[]> {
    if (alerts.length === 0) return [];
    const seen = await redis.mget(...alerts.map((a) => k.sent(sink, a.record_id)));
    return alerts.filter((_, i) => seen[i] === null);
  }

  const worker = new Worker<AlertJob>(
    alertQueueName(prefix),
    async (job: Job<AlertJob>) => {
      const data = job.data;
      const sink = sinks.get(data.sink);
      // A job of a sink that is no longer configured: nothing to send it to.
      if (!sink) {
        metrics.dropped.inc({ reason: 'unknown_sink' });
        return;
      }
      let alerts: Alert[];
      if (data.type === 'send') {
        alerts = await unsent(sink.name, [data.alert]);
      } else {
        const raw = (await redis.eval(TAKE_LUA, 2, k.pending(sink.name, data.group), k.flushing(sink.name, data.group, data.window))) as string[];
        alerts = await unsent(sink.name, raw.map((r) => JSON.parse(r) as Alert));
      }
      if (alerts.length === 0) metrics.dropped.inc({ reason: 'duplicate' });
      else await deliver(sink, data.type === 'send' ? singleMessage(alerts[0]!) : groupAlerts(alerts, config.alerts.group_window_seconds), data.enqueuedAt);
      if (data.type === 'flush') await redis.del(k.flushing(sink.name, data.group, data.window));
    },
    { connection: redis, concurrency: 4, limiter: { max: config.alerts.rate_limit_per_second, duration: 1000 } },
  );
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (final) metrics.failed.inc({ sink: job.data.sink });
    log?.[final ? 'error' : 'warn']({ job: job.id, sink: job.data.sink, attempt: job.attemptsMade, err: err.message }, final ? 'alert dead-lettered' : 'alert failed; will retry');
  });
  worker.on('error', (err) => log?.warn({ err: err.message }, 'alert worker error'));

  queue.on('error', () => {});
  // Their set-up runs on the shared connection: finished before anyone can close that connection.
  await queue.waitUntilReady();
  await worker.waitUntilReady();

  type Add = { name: 'send' | 'flush'; data: AlertJob; opts: { jobId: string; delay?: number } };

  /** Decides, atomically in Redis, whether one alert is sent now, joins its object's window, or was sent already. */
  async function route(item: { sink: ResolvedSink; alert: Alert; group: string }, enqueuedAt: number): Promise<Add | undefined> {
    const { sink, alert, group } = item;
    const [verdict, left, window] = (await redis.eval(ROUTE_LUA, 3, k.sent(sink.name, alert.record_id), k.window(sink.name, group), k.pending(sink.name, group), alert.record_id, windowMs, JSON.stringify(alert))) as [
      number,
      number?,
      string?,
    ];
    if (verdict === 2) {
      metrics.dropped.inc({ reason: 'duplicate' });
      return undefined;
    }
    if (verdict === 1) return { name: 'send', data: { type: 'send', sink: sink.name, alert, enqueuedAt }, opts: { jobId: `${sink.name}.${alert.record_id}` } };
    metrics.grouped.inc({ sink: sink.name });
    // One flush per window (its id names the record that opened it), run just after the window closes.
    return { name: 'flush', data: { type: 'flush', sink: sink.name, group, window: window!, enqueuedAt }, opts: { jobId: `${sink.name}.flush.${group}.${window!}`, delay: left! + 250 } };
  }

  return {
    queue,
    worker,
    metrics,
    async enqueue(cluster, records) {
      const enqueuedAt = Date.now();
      // Objects in parallel (the round trips overlap), one object's records in order: the first of them opens its window.
      const byObject = new Map<string, Array<{ sink: ResolvedSink; alert: Alert; group: string; id: string }>>();
      for (const r of records) {
        try {
          const facts = recordFacts(r.id, r.doc);
          if (!facts.cluster) facts.cluster = cluster;
          const routes = routeRecord(facts, plan);
          if (routes.length === 0) continue;
          const group = hash(objectKeyOf(facts));
          const list = byObject.get(group) ?? [];
          for (const route of routes) list.push({ sink: route.sink, alert: buildAlert(facts, route.rules, { kibanaUrl: options.kibanaUrl, indexPrefix: prefix }), group, id: r.id });
          byObject.set(group, list);
        } catch (err) {
          // A record this code cannot read must not fail its batch (it is stored; a retry would not alert it either).
          metrics.dropped.inc({ reason: 'enqueue_error' });
          log?.error({ cluster, id: r.id, err: (err as Error).message }, 'alert not built');
        }
      }
      const adds = new Map<string, Add>();
      let items = 0;
      await Promise.all(
        [...byObject.values()].map(async (list) => {
          items += list.length;
          for (const item of list) {
            const add = await route(item, enqueuedAt).catch((err: Error) => {
              metrics.dropped.inc({ reason: 'enqueue_error' });
              log?.error({ cluster, id: item.id, sink: item.sink.name, err: err.message }, 'alert not enqueued');
            });
            if (add) adds.set(add.opts.jobId, add);
          }
        }),
      );
      if (adds.size === 0) return;
      // One round trip for every job of the batch; a job id already in the queue is not added again.
      await queue.addBulk([...adds.values()]).catch((err: Error) => {
        metrics.dropped.inc({ reason: 'enqueue_error' }, adds.size);
        log?.error({ cluster, jobs: adds.size, of: items, err: err.message }, 'alerts not enqueued');
      });
    },
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}
