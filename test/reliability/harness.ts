import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Client } from '@elastic/elasticsearch';
import { testEs, testEsUrl, uniquePrefix } from '@crtrail/testkit';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, CrtrailProcess, freePort, RedisServer, type CrtrailMode } from './processes.js';
import { eventGenerator, type GeneratorOptions, type Generated } from './generator.js';
import { sendBatch, type BatchOutcome, type SendPolicy } from './sender.js';

/** One row of the report. */
export interface Row {
  scenario: string;
  expected: number;
  acked: number;
  stored: number;
  lost: number;
  duplicates: number;
  dead_lettered: number;
  seconds: number;
  /** The row's loss is the known price of its setup (Redis without persistence); it must be detected. */
  expected_loss?: boolean;
  /** What the row checks besides the counts, and failed (a 500 instead of a 503, no warning logged...). */
  problems: string[];
  note: string;
}

export interface ScenarioOptions {
  /** AOF `everysec` (default) or no persistence. */
  aof?: boolean;
  /** Elasticsearch URL the crtrail processes use (a proxy in front of the real one); the real one when absent. */
  esUrl?: string;
  env?: Record<string, string>;
}

export const CLUSTER = 'rel';

/**
 * The environment without the caller's crtrail settings (a tokens file, a config, another prefix
 * would change what the scenario tests), except Elasticsearch credentials.
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['CRTRAIL_ES_USERNAME', 'CRTRAIL_ES_PASSWORD', 'CRTRAIL_ES_API_KEY', 'CRTRAIL_ES_CA']);
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CRTRAIL_') || keep.has(k)));
}

/** Counts of what reached Elasticsearch for a set of event ids. */
export interface Tally {
  docs: number;
  distinct: number;
  ids: Set<string>;
}

/**
 * Everything one scenario runs on, under its own prefix: its Redis, its crtrail processes, the load
 * it sent (expected = custom-resource writes sent, acked = those in 200-answered batches), and the
 * counting against Elasticsearch and the dead letters at the end.
 */
export class Scenario {
  readonly prefix: string;
  readonly tmp: string;
  readonly expectedIds = new Set<string>();
  readonly ackedIds = new Set<string>();
  readonly outcomes: BatchOutcome[] = [];
  readonly processes: CrtrailProcess[] = [];
  readonly es: Client = testEs();
  readonly problems: string[] = [];
  readonly notes: string[] = [];
  redis!: RedisServer;
  private readonly cleanups: Array<() => Promise<void> | void> = [];
  private readonly checks: Array<(row: Row) => string | undefined> = [];
  private readonly started = Date.now();
  private queueClient?: { queue: Queue; redis: Redis };

  constructor(
    readonly name: string,
    readonly options: ScenarioOptions = {},
  ) {
    this.prefix = uniquePrefix(`rel-${name}`);
    this.tmp = mkdtempSync(join(tmpdir(), 'crtrail-rel-'));
  }

  async setup(): Promise<void> {
    this.redis = await RedisServer.start(join(this.tmp, 'redis'), this.options.aof ?? true, this.tmp);
  }

  /** A check of the counted row (e.g. "every refused record is a dead letter"); a string returned is a problem. */
  expect(check: (row: Row) => string | undefined): void {
    this.checks.push(check);
  }

  onCleanup(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  /** The environment of every crtrail process (and CLI call) of this scenario. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...inheritedEnv(),
      CRTRAIL_REDIS_URL: this.redis.url,
      CRTRAIL_ES_URL: this.options.esUrl ?? testEsUrl(),
      CRTRAIL_INDEX_PREFIX: this.prefix,
      CRTRAIL_LOG_LEVEL: process.env.CRTRAIL_RELIABILITY_LOG_LEVEL || 'info',
      CRTRAIL_WORKER_NICE: '0',
      // The CLI's cache (history fallback, if any) stays in the scenario's temporary directory.
      CRTRAIL_CACHE_DIR: join(this.tmp, 'cache'),
      ...this.options.env,
      ...extra,
    };
  }

  /** Starts `crtrail up` in `mode` on free ports and waits for its /healthz. */
  async start(
    mode: CrtrailMode,
    extra: Record<string, string> = {},
    nodeArgs: string[] = [],
    entry?: string,
  ): Promise<CrtrailProcess> {
    const env = this.env({
      CRTRAIL_PORT: String(await freePort()),
      CRTRAIL_WORKER_PORT: String(await freePort()),
      ...extra,
    });
    const p = new CrtrailProcess(mode, env, join(this.tmp, `${mode}-${this.processes.length}.log`), nodeArgs, entry);
    this.processes.push(p);
    await p.start();
    return p;
  }

  generator(options: GeneratorOptions = {}) {
    return eventGenerator(options);
  }

  /** Sends one batch like an apiserver; books expected and acked ids. */
  async send(url: string, batch: Generated[], policy?: SendPolicy): Promise<BatchOutcome> {
    for (const g of batch) if (g.expected) this.expectedIds.add(g.event.auditID as string);
    const outcome = await sendBatch(
      url,
      CLUSTER,
      batch.map((g) => g.event),
      policy,
    );
    this.outcomes.push(outcome);
    if (outcome.acked) for (const g of batch) if (g.expected) this.ackedIds.add(g.event.auditID as string);
    return outcome;
  }

  /** Sends `batches` with at most `parallel` in flight (an apiserver sends up to 10/s, several at once). */
  async sendAll(
    url: string | (() => string),
    batches: Generated[][],
    parallel = 2,
    policy?: SendPolicy,
  ): Promise<void> {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < batches.length) {
        const b = batches[next++]!;
        await this.send(typeof url === 'function' ? url() : url, b, policy);
      }
    };
    await Promise.all(Array.from({ length: parallel }, lane));
  }

  /** The BullMQ queue of this prefix, read directly in Redis (job counts, the active job). */
  queue(): Queue {
    if (!this.queueClient) {
      const redis = new Redis(this.redis.url, { maxRetriesPerRequest: null, lazyConnect: false });
      redis.on('error', () => {});
      this.queueClient = { redis, queue: new Queue(`${this.prefix}-batches`, { connection: redis }) };
      this.queueClient.queue.on('error', () => {});
    }
    return this.queueClient.queue;
  }

  async jobCounts(): Promise<Record<string, number>> {
    return this.queue().getJobCounts(
      'waiting',
      'active',
      'delayed',
      'prioritized',
      'paused',
      'failed',
      'completed',
      'waiting-children',
    );
  }

  /**
   * Waits (bounded) until a job is active, i.e. a worker is mid-job, and returns its id. With `id` and
   * `since`: until that job is active in an attempt started after `since` (the list of active jobs
   * still names the job of a killed worker until BullMQ finds it stalled, which is not an attempt).
   */
  async activeJob(timeoutMs = 60_000, id?: string, since = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const active = await this.queue()
        .getActive(0, 50)
        .catch(() => []);
      const job = active.find(
        (j) => j?.id !== undefined && (id === undefined || j.id === id) && (j.processedOn ?? 0) >= since,
      );
      if (job?.id) return job.id;
      await sleep(50);
    }
    throw new Error(`no job${id ? ` ${id}` : ''} became active within ${timeoutMs / 1000} s`);
  }

  /**
   * Waits until the pipeline is done: nothing waiting, active, delayed (retries), and the number of
   * records in Elasticsearch unchanged over a few seconds; or until the deadline. Returns whether it drained.
   */
  async drain(timeoutMs = 120_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let lastDocs = -1;
    let stableSince = 0;
    while (Date.now() < deadline) {
      let pending = 1;
      try {
        const c = await this.jobCounts();
        pending =
          (c.waiting ?? 0) +
          (c.active ?? 0) +
          (c.delayed ?? 0) +
          (c.prioritized ?? 0) +
          (c.paused ?? 0) +
          (c['waiting-children'] ?? 0);
      } catch {
        /* Redis away: not drained */
      }
      const docs = await this.docCount().catch(() => -1);
      if (pending === 0 && docs === lastDocs && docs >= 0) {
        if (stableSince === 0) stableSince = Date.now();
        if (Date.now() - stableSince >= 3_000) return true;
      } else {
        stableSince = 0;
      }
      lastDocs = docs;
      await sleep(500);
    }
    this.notes.push(`did not drain within ${timeoutMs / 1000} s`);
    return false;
  }

  private async docCount(): Promise<number> {
    await this.es.indices.refresh({
      index: `${this.prefix}-changes*`,
      ignore_unavailable: true,
      allow_no_indices: true,
    });
    return (await this.es.count({ index: `${this.prefix}-changes*`, ignore_unavailable: true, allow_no_indices: true }))
      .count;
  }

  /** Every record's event.id in `<prefix>-changes*`, exactly (composite aggregation, paged), and the document count. */
  async tally(): Promise<Tally> {
    const index = `${this.prefix}-changes*`;
    await this.es.indices.refresh({ index, ignore_unavailable: true, allow_no_indices: true });
    const docs = (await this.es.count({ index, ignore_unavailable: true, allow_no_indices: true })).count;
    const ids = new Set<string>();
    let after: Record<string, string> | undefined;
    for (;;) {
      const res = await this.es.search({
        index,
        size: 0,
        ignore_unavailable: true,
        allow_no_indices: true,
        aggs: {
          ids: {
            composite: {
              size: 5_000,
              sources: [{ id: { terms: { field: 'event.id' } } }],
              ...(after ? { after } : {}),
            },
          },
        },
      });
      const agg = (
        res.aggregations as
          { ids?: { buckets: Array<{ key: { id: string } }>; after_key?: Record<string, string> } } | undefined
      )?.ids;
      const buckets: Array<{ key: { id: string } }> = agg?.buckets ?? [];
      for (const b of buckets) ids.add(b.key.id);
      if (buckets.length === 0 || !agg?.after_key) break;
      after = agg.after_key;
    }
    return { docs, distinct: ids.size, ids };
  }

  /** `crtrail dlq list --json`, as an operator would run it; its raw lines. */
  async deadLetterLines(): Promise<string[]> {
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolveRun) => {
      const child = spawn(process.execPath, [CLI(), 'dlq', 'list', '--json'], {
        env: this.env(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolveRun({ code: code ?? 1, stdout, stderr });
      });
    });
    if (out.code !== 0)
      this.problems.push(`crtrail dlq list failed (exit ${out.code}): ${out.stderr.trim().slice(0, 200)}`);
    return out.stdout.split('\n').filter((l) => l.trim() !== '');
  }

  /**
   * The row. stored = acked-or-not expected events with a record; dead_lettered = expected events
   * without a record that `crtrail dlq list` shows (named anywhere in an entry: a refused record, a
   * poison event, a failed batch); lost = acked events with neither.
   */
  async count(extra: Partial<Row> = {}): Promise<Row> {
    const { note, ...rest } = extra;
    if (note) this.notes.unshift(note);
    const tally = await this.tally();
    const lines = await this.deadLetterLines();
    const missing = [...this.expectedIds].filter((id) => !tally.ids.has(id));
    const inDlq = new Set(missing.filter((id) => lines.some((l) => l.includes(id))));
    const lost = [...this.ackedIds].filter((id) => !tally.ids.has(id) && !inDlq.has(id));
    const strangers = [...tally.ids].filter((id) => !this.expectedIds.has(id)).length;
    if (strangers > 0)
      this.problems.push(`${strangers} record(s) whose event.id was never sent as a custom-resource write`);
    const counts = await this.jobCounts().catch(() => undefined);
    if (counts?.failed) this.notes.push(`${counts.failed} failed job(s) left in BullMQ`);
    const stored = [...this.expectedIds].filter((id) => tally.ids.has(id)).length;
    const statuses = this.statusSummary();
    if (statuses) this.notes.push(`answers: ${statuses}`);
    const row: Row = {
      scenario: this.name,
      expected: this.expectedIds.size,
      acked: this.ackedIds.size,
      stored,
      lost: lost.length,
      duplicates: tally.docs - tally.distinct,
      dead_lettered: inDlq.size,
      seconds: Math.round((Date.now() - this.started) / 1000),
      problems: this.problems,
      note: this.notes.join('; '),
      ...rest,
    };
    for (const check of this.checks) {
      const problem = check(row);
      if (problem) row.problems.push(problem);
    }
    return row;
  }

  /** "200×12, 503×3 (Retry-After 1), timeout×1": what the webhook answered, all attempts. */
  statusSummary(): string {
    const counts = new Map<string, number>();
    for (const o of this.outcomes) {
      for (const a of o.attempts) {
        const key =
          a.status === 0
            ? `no answer (${a.error})`
            : a.retryAfter
              ? `${a.status} Retry-After ${a.retryAfter}`
              : String(a.status);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    const dropped = this.outcomes.filter((o) => !o.acked).length;
    const parts = [...counts].map(([k, v]) => `${k} ×${v}`);
    if (dropped) parts.push(`${dropped} batch(es) given up by the sender`);
    return parts.join(', ');
  }

  /** Logs of all crtrail processes (for "did it warn" checks and diagnosis). */
  logs(): string {
    return this.processes.map((p) => p.log()).join('\n');
  }

  /** Stops everything this scenario started and deletes its indices, templates, Redis and files. */
  async teardown(): Promise<void> {
    for (const fn of this.cleanups.reverse()) await Promise.resolve(fn()).catch(() => {});
    await Promise.all(this.processes.map((p) => p.killAll().catch(() => {})));
    if (this.queueClient) {
      await this.queueClient.queue.close().catch(() => {});
      this.queueClient.redis.disconnect();
    }
    await this.redis?.stop().catch(() => {});
    await deleteIndices(this.es, this.prefix).catch(() => {});
    await this.es.close().catch(() => {});
    if (!process.env.CRTRAIL_RELIABILITY_KEEP) rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** Deletes every index and index template named `<prefix>-*` (by name: wildcard deletes may be refused). */
export async function deleteIndices(es: Client, prefix: string): Promise<void> {
  const found = await es.indices.get({
    index: `${prefix}-*`,
    ignore_unavailable: true,
    allow_no_indices: true,
    expand_wildcards: 'all',
  });
  const names = Object.keys(found);
  if (names.length > 0) await es.indices.delete({ index: names.join(','), ignore_unavailable: true });
  const templates = await es.indices.getIndexTemplate({ name: `${prefix}*` }, { ignore: [404] }).catch(() => undefined);
  for (const t of templates?.index_templates ?? [])
    await es.indices.deleteIndexTemplate({ name: t.name }, { ignore: [404] });
}

/** Runs `body` in a fresh scenario, always tearing it down; a thrown error becomes a problem of the row. */
export async function runScenario(
  name: string,
  options: ScenarioOptions,
  body: (s: Scenario) => Promise<Partial<Row>> | Promise<void>,
): Promise<Row> {
  const s = new Scenario(name, options);
  try {
    await s.setup();
    const extra = await body(s);
    return await s.count(extra ?? {});
  } catch (err) {
    s.problems.push(`scenario error: ${(err as Error).message}`);
    try {
      return await s.count();
    } catch (countErr) {
      return {
        scenario: name,
        expected: s.expectedIds.size,
        acked: s.ackedIds.size,
        stored: 0,
        lost: s.ackedIds.size,
        duplicates: 0,
        dead_lettered: 0,
        seconds: 0,
        problems: [...s.problems, `counting failed: ${(countErr as Error).message}`],
        note: s.notes.join('; '),
      };
    }
  } finally {
    if (process.env.CRTRAIL_RELIABILITY_VERBOSE) process.stderr.write(`--- ${name} logs (${s.tmp})\n`);
    await s.teardown();
  }
}
