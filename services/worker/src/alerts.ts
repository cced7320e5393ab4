import { createHash } from 'node:crypto';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { alertQueueName, isRedisCluster, type RedisClient } from '@crtrail/queue';
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
import { AlertMarks } from '@crtrail/state';

/**
 * A job of `<prefix>-alerts`. `send`: one record's alert, at once. `flush`: the alerts collected for one
 * object while its group window was open, sent as one message when it closes.
 */
export type AlertJob =
  | { type: 'send'; sink: string; alert: Alert; enqueuedAt: number }
  | { type: 'flush'; sink: string; group: string; window: string; enqueuedAt: number };

export { alertQueueName };

/** How long a record's "sent" marker is kept: a replay or re-drive within it never alerts again. */
export const SENT_MARKER_TTL_SECONDS = 30 * 86_400;

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
    sent: new Counter({
      name: 'crtrail_alerts_sent_total',
      help: 'Alert messages delivered, by sink',
      labelNames: ['sink'],
      registers,
    }),
    failed: new Counter({
      name: 'crtrail_alerts_failed_total',
      help: 'Alert messages dead-lettered after their last attempt, by sink',
      labelNames: ['sink'],
      registers,
    }),
    dropped: new Counter({
      name: 'crtrail_alerts_dropped_total',
      help: 'Alerts not sent, by reason (duplicate: already sent; enqueue_error: Redis refused; unknown_sink: its sink is no longer configured)',
      labelNames: ['reason'],
      registers,
    }),
    grouped: new Counter({
      name: 'crtrail_alerts_grouped_total',
      help: 'Alerts folded into a grouped message of their object, by sink',
      labelNames: ['sink'],
      registers,
    }),
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
  redis: RedisClient;
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
  const marks = new AlertMarks(redis, prefix);
  const windowMs = config.alerts.group_window_seconds * 1000;
  const queue = new Queue<AlertJob>(alertQueueName(prefix, isRedisCluster(redis)), {
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
    await marks.markSent(sink.name, message.record_ids, SENT_MARKER_TTL_SECONDS);
    metrics.sent.inc({ sink: sink.name });
    metrics.latency.observe({ sink: sink.name }, (Date.now() - enqueuedAt) / 1000);
  }

  async function unsent(sink: string, alerts: Alert[]): Promise<Alert[]> {
    if (alerts.length === 0) return [];
    const sent = await marks.sent(
      sink,
      alerts.map((a) => a.record_id),
    );
    return alerts.filter((_, i) => !sent[i]);
  }

  const worker = new Worker<AlertJob>(
    alertQueueName(prefix, isRedisCluster(redis)),
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
        const raw = await marks.take(sink.name, data.group, data.window);
        alerts = await unsent(
          sink.name,
          raw.map((r) => JSON.parse(r) as Alert),
        );
      }
      if (alerts.length === 0) metrics.dropped.inc({ reason: 'duplicate' });
      else
        await deliver(
          sink,
          data.type === 'send' ? singleMessage(alerts[0]!) : groupAlerts(alerts, config.alerts.group_window_seconds),
          data.enqueuedAt,
        );
      if (data.type === 'flush') await marks.flushed(sink.name, data.group, data.window);
    },
    { connection: redis, concurrency: 4, limiter: { max: config.alerts.rate_limit_per_second, duration: 1000 } },
  );
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (final) metrics.failed.inc({ sink: job.data.sink });
    log?.[final ? 'error' : 'warn'](
      { job: job.id, sink: job.data.sink, attempt: job.attemptsMade, err: err.message },
      final ? 'alert dead-lettered' : 'alert failed; will retry',
    );
  });
  worker.on('error', (err) => log?.warn({ err: err.message }, 'alert worker error'));

  queue.on('error', () => {});
  // Their set-up runs on the shared connection: finished before anyone can close that connection.
  await queue.waitUntilReady();
  await worker.waitUntilReady();

  type Add = { name: 'send' | 'flush'; data: AlertJob; opts: { jobId: string; delay?: number } };

  /** Decides, atomically in Redis, whether one alert is sent now, joins its object's window, or was sent already. */
  async function route(
    item: { sink: ResolvedSink; alert: Alert; group: string },
    enqueuedAt: number,
  ): Promise<Add | undefined> {
    const { sink, alert, group } = item;
    const routed = await marks.route(sink.name, group, alert.record_id, windowMs, JSON.stringify(alert));
    if (routed[0] === 2) {
      metrics.dropped.inc({ reason: 'duplicate' });
      return undefined;
    }
    if (routed[0] === 1)
      return {
        name: 'send',
        data: { type: 'send', sink: sink.name, alert, enqueuedAt },
        opts: { jobId: `${sink.name}.${alert.record_id}` },
      };
    const [, left, window] = routed;
    metrics.grouped.inc({ sink: sink.name });
    // One flush per window (its id names the record that opened it), run just after the window closes.
    return {
      name: 'flush',
      data: { type: 'flush', sink: sink.name, group, window, enqueuedAt },
      opts: { jobId: `${sink.name}.flush.${group}.${window}`, delay: left + 250 },
    };
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
          for (const route of routes)
            list.push({
              sink: route.sink,
              alert: buildAlert(facts, route.rules, { kibanaUrl: options.kibanaUrl, indexPrefix: prefix }),
              group,
              id: r.id,
            });
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
