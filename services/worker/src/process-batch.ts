import type { Client } from '@elastic/elasticsearch';
import type { Logger } from 'pino';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { AuditEvent, KubeObject } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';
import {
  batchObjects,
  DEFAULT_IGNORE_PATHS,
  importBaseline,
  opsText,
  planBatch,
  stateHash,
  type BatchObject,
  type BatchPlan,
  type History,
} from '@crtrail/diff';
import { learnKinds, redactEvent, type KindStore } from '@crtrail/enrich';
import { classifyEvent, type FilterOptions } from '@crtrail/filter';
import { configDigest } from '@crtrail/integrity';
import type { BatchJob, RedisClient } from '@crtrail/queue';
import {
  confirmChain,
  keysFor,
  loadHistories,
  pendingLinks,
  pushDeadLetters,
  pushEventDeadLetters,
  prepareHistorySave,
  sealChain,
  type HistoryCache,
  type HistoryRetention,
  type PreparedHistorySave,
  type LoadedHistory,
} from '@crtrail/state';
import {
  buildRecord,
  bulkWrite,
  indexNames,
  latestStoredStates,
  RecordLocator,
  storedChainHead,
  type BulkAction,
  type BulkRejection,
  type BulkStats,
  type RecordActor,
  type StoredRecordDoc,
} from '@crtrail/store';
import type { WorkerMetrics } from './metrics.js';
import type { Enricher } from './enricher.js';
import { runAlone, type UnitPipeline, type UnitTurn } from './unit-pipeline.js';

export interface BatchDeps {
  es: Client;
  redis: RedisClient;
  prefix: string;
  /** The object histories this worker last read or saved (one per worker: its jobs share it). */
  historyCache: HistoryCache;
  /** How long histories stay in Redis (CRTRAIL_STATE_TTL_DAYS / CRTRAIL_STATE_DELETED_TTL_DAYS); unset: forever. */
  historyRetention?: HistoryRetention;
  /** Finds records already in older backing indices (exactly-once across rollovers). */
  locator?: RecordLocator;
  enrich: Enricher;
  config: CrtrailConfig;
  /** Salt of the redaction hashes (never stored with the data). */
  salt: string;
  /** The resource → kind table redaction decides by (shared through Redis); resource names only when absent. */
  kinds?: KindStore;
  filter?: FilterOptions;
  metrics?: WorkerMetrics;
  log?: Logger;
  /** Alerts on the records this batch created (after they are stored); absent: no alerts configured. */
  alerts?: {
    enqueue(cluster: string, records: ReadonlyArray<{ id: string; doc: Record<string, unknown> }>): Promise<void>;
  };
  /** `wait_for` makes records searchable before the job completes (tests, replays); off for throughput. */
  refresh?: boolean | 'wait_for';
  /**
   * The worker's units pipelined on the objects they share (one per worker process); absent: each
   * unit holds its objects alone, the next one on them waits for it to end.
   */
  pipeline?: UnitPipeline;
}

export interface UnitOptions {
  /** The unit neither follows nor is followed by another of the pipeline (a retried job's). */
  exclusive?: boolean;
}

export interface BatchResult {
  events: number;
  mutations: number;
  created: number;
  duplicates: number;
  repaired: number;
  deadLettered: number;
}

/** An event set aside with its reason (see `EventDeadLetter` in @crtrail/state). */
type Poisoned = { event: AuditEvent; reason: string };

/**
 * Events processed between two yields to the event loop. A job may be large (an old webhook's
 * whole apiserver batch, or a replay); processed in one go, 60,000 events held the loop for 66 s,
 * so BullMQ could not renew the job's lock and another worker processed it a second time. In
 * chunks of 100 the longest block in such a job was 0.19 s (bench/worker-memory.ts), and a chunk of
 * 100 events of 25 KB is 2.5 MB of JSON, the size of the largest job the webhook writes.
 * Chunks are processed in order, one after the other, so one object's writes keep their order.
 * Small jobs processed together ({@link processJobs}) share one chunk up to this many events.
 */
export const CHUNK_EVENTS = 100;

const reasonOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

const emptyResult = (events: number): BatchResult => ({
  events,
  mutations: 0,
  created: 0,
  duplicates: 0,
  repaired: 0,
  deadLettered: 0,
});

/**
 * One BullMQ job: keep the custom-resource mutations of the batch, turn them into change records
 * and write them, in chunks of {@link CHUNK_EVENTS}. Throws (→ BullMQ retries the whole batch,
 * which is safe: `_id`s are deterministic and writes are `create`) when Elasticsearch or Redis is
 * unreachable. An event whose pure processing steps (filter, redaction, diff, enrichment, record)
 * throw is dead-lettered alone instead: retrying it would throw again.
 */
export async function processBatch(job: BatchJob, deps: BatchDeps): Promise<BatchResult> {
  const [result] = await processJobs([job], deps);
  if (!result) throw new Error('processJobs returned no result for its one job');
  return result;
}

/** Part of one job's events, processed within a chunk; its counts go to that job's result. */
interface Part {
  job: BatchJob;
  events: AuditEvent[];
  result: BatchResult;
}

/**
 * Several jobs as one unit of work, in order: a job's events are cut into pieces of at most
 * {@link CHUNK_EVENTS}, and consecutive pieces share a chunk while it holds no more than that many
 * events. A chunk costs a fixed number of round trips (locks, histories, chain, one bulk request,
 * one existence check), whatever its size, so the webhook's small jobs (one apiserver batch keeps
 * ~20 writes) processed one chunk each spent most of the worker's and Elasticsearch's time on
 * requests rather than records (bench/ANALYSIS.md). Throws like {@link processBatch}: every job
 * of the unit is then retried, which is safe for the same reasons. Results are per job, in order.
 */
export async function processJobs(
  jobs: readonly BatchJob[],
  deps: BatchDeps,
  options: UnitOptions = {},
): Promise<BatchResult[]> {
  const results = jobs.map((job) => emptyResult(job.events.length));
  const ignorePaths = [...DEFAULT_IGNORE_PATHS, ...deps.config.filter.ignorePaths];
  const chunks: Part[][] = [];
  let current: Part[] = [];
  let size = 0;
  jobs.forEach((job, j) => {
    for (let start = 0; start < job.events.length; start += CHUNK_EVENTS) {
      const events = job.events.slice(start, start + CHUNK_EVENTS);
      if (size > 0 && size + events.length > CHUNK_EVENTS) {
        chunks.push(current);
        current = [];
        size = 0;
      }
      current.push({ job, events, result: results[j]! });
      size += events.length;
    }
  });
  if (current.length > 0) chunks.push(current);
  for (const [n, chunk] of chunks.entries()) {
    // Lets BullMQ renew the job's lock, other jobs progress and /metrics answer.
    if (n > 0) await yieldToLoop();
    await processChunk(chunk, deps, ignorePaths, options);
  }
  for (const job of jobs) deps.metrics?.lag.observe((Date.now() - job.receivedAt) / 1000);
  return results;
}

/** A chunk's events of one cluster: planned together (their objects and chain are the cluster's). */
interface ClusterWork {
  cluster: string;
  /** The kept (redacted) events, in part order. */
  events: AuditEvent[];
  /** Which part each of them came from: its counts and its job's receipt time. */
  partOf: Map<AuditEvent, Part>;
  objects: BatchObject[];
}

/** A cluster's work with its plan. */
interface PlannedWork extends ClusterWork {
  plan: BatchPlan<RecordActor>;
}

/**
 * One chunk, top to bottom: filter → learn kinds → redact → lock the objects → load their histories
 * (from Elasticsearch for those Redis lost) → plan (the pure change engine, per cluster) → enrich →
 * seal the chain → bulk write → alert → confirm the links → save the histories → unlock. The records
 * are written while the objects are locked, so a record always reaches Elasticsearch before any
 * repair of it; the histories are saved only after, so a crash anywhere is safe: the retried job
 * recomputes identical records (deterministic `_id`s, `create` → 409) and reuses their pending links.
 * Its parts may come from several jobs and clusters: every round trip serves all of them at once.
 */
async function processChunk(
  parts: Part[],
  deps: BatchDeps,
  ignorePaths: readonly string[],
  options: UnitOptions,
): Promise<void> {
  const kept: Array<{ part: Part; events: AuditEvent[] }> = [];
  const poisoned: Array<Poisoned & { part: Part }> = [];
  for (const part of parts) {
    const events: AuditEvent[] = [];
    for (const event of part.events) {
      try {
        const decision = classifyEvent(event, deps.filter);
        deps.metrics?.events.inc({ decision: decision.keep ? 'kept' : decision.reason });
        if (decision.keep) events.push(event);
      } catch (err) {
        poisoned.push({ event, reason: `filter: ${reasonOf(err)}`, part });
      }
    }
    kept.push({ part, events });
  }
  // What is secret is decided from the objectRef: the kinds these events teach are learned first
  // (a Redis failure here throws: the job is retried, nothing is written unredacted).
  const mutations = kept.flatMap((k) => k.events);
  if (deps.kinds && mutations.length > 0) await learnKinds(mutations, deps.kinds);
  const work = new Map<string, ClusterWork>();
  for (const { part, events } of kept) {
    const { cluster } = part.job;
    for (const event of events) {
      try {
        // Redacted before anything else sees it: state store, records, logs, dead letters.
        const redacted = redactEvent(event, deps.config, deps.salt, deps.kinds);
        let w = work.get(cluster);
        if (!w) work.set(cluster, (w = { cluster, events: [], partOf: new Map(), objects: [] }));
        w.events.push(redacted);
        w.partOf.set(redacted, part);
      } catch (err) {
        poisoned.push({ event, reason: `redaction: ${reasonOf(err)}`, part });
      }
    }
  }
  // One dead-letter write per cluster, as before units (not one per event).
  for (const cluster of new Set(poisoned.map((p) => p.part.job.cluster))) {
    const ofCluster = poisoned.filter((p) => p.part.job.cluster === cluster);
    await deadLetterEvents(deps, cluster, ofCluster);
    for (const p of ofCluster) p.part.result.deadLettered++;
  }
  if (work.size === 0) return;

  const started = process.hrtime.bigint();
  const k = keysFor(deps.redis, deps.prefix);
  // The actor is classified here, once per record: kept in the history for repairs, and in the record.
  const planOptions = {
    ignorePaths,
    actorOf: (event: AuditEvent, object: KubeObject | undefined) => deps.enrich.actorOf(event, object),
  };
  for (const w of work.values()) w.objects = batchObjects(w.cluster, w.events);
  const objects = [...work.values()].flatMap((w) => w.objects);
  for (const w of work.values()) {
    // Every event failed to expand: nothing to lock, only dead letters to write.
    if (w.objects.length === 0)
      await deadLetterPoisoned(deps, w.cluster, planBatch(w.cluster, w.events, new Map(), planOptions));
  }
  if (objects.length === 0) return;

  const locator = deps.locator ?? new RecordLocator(deps.es, indexNames(deps.prefix).alias);
  const unitObjects = {
    locks: new Map(objects.map((o) => [o.id, k.lock(o.id)])),
    recordIds: objects.flatMap((o) => o.recordIds),
  };
  const locked = async (turn: UnitTurn): Promise<void> => {
    // Which records these writes would make an earlier attempt stored is asked under the locks
    // (from here no other worker can store them) and before the engine runs, so that
    // Elasticsearch answers while it does: asked after it, its two round trips kept the unit
    // waiting 6–9 ms (of ~100) with the worker's main thread idle, in drains of the bench's
    // workload; now 1.3–1.4 ms. The backing indices are read beside the histories; the multi-get
    // is handed to the socket (one turn of the event loop) before the engine holds the loop.
    // Not awaited if a step before fails: never an unhandled rejection. Ids a unit before this
    // one may still store are asked only once it has (in writeRecords).
    const backing = locator.backing();
    backing.catch(() => {});
    deps.metrics?.takenOver.inc(turn.earlier.size);
    const loaded = await historiesAfter(deps, objects, turn);
    const histories = await withStoredStates(deps, objects, loaded);
    const candidates = unitObjects.recordIds.filter((id) => !turn.late.has(id));
    const indices = await backing;
    const existing = { ids: new Set(candidates), found: locator.findExisting(candidates, indices) };
    existing.found.catch(() => {});
    await yieldToLoop();
    const planned: PlannedWork[] = [...work.values()]
      .filter((w) => w.objects.length > 0)
      .map((w) => ({ ...w, plan: planBatch(w.cluster, w.events, histories, planOptions) }));
    deps.metrics?.diffSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    // Saved against what Redis holds (`loaded`), so a state taken from Elasticsearch is written too.
    const before = new Map(objects.map((o, i) => [o.id, loaded[i]!]));
    const loadedOf = (id: string): LoadedHistory => {
      const history = before.get(id);
      if (!history) throw new Error(`the batch plan writes the history of ${id}, which this batch did not load`);
      return history;
    };
    const writes = planned.flatMap((w) =>
      w.plan.historyWrites.map((h) => ({ key: k.state(h.id), id: h.id, before: loadedOf(h.id), after: h.history })),
    );
    // What the next unit on these objects plans on: Redis's histories once this unit's save is applied.
    const after = new Map(before);
    for (const w of writes) after.set(w.id, { history: w.after, rev: w.before.rev + 1, legacy: false });
    turn.planned(after);
    for (const w of planned) await deadLetterPoisoned(deps, w.cluster, w.plan);
    const prepare = (): PreparedHistorySave =>
      prepareHistorySave(deps.redis, writes, deps.historyCache, deps.historyRetention);
    // Built while the records' bulk request is in flight, sent only once writeRecords is done.
    let save: PreparedHistorySave | undefined;
    await writeRecords(planned, deps, locator, existing, turn, () => (save = prepare()));
    // Over the save of the unit before (the one this unit planned on), never before it.
    await turn.savedBefore();
    await (save ?? prepare()).exec();
    turn.saved();
  };
  await (deps.pipeline
    ? deps.pipeline.run(unitObjects, locked, options.exclusive)
    : runAlone(deps.redis, unitObjects, locked));
}

/**
 * Each object's history as this unit starts from it: as the unit of this process before it on the
 * object left it (planned, maybe not saved yet), or else as Redis holds it.
 */
async function historiesAfter(deps: BatchDeps, objects: BatchObject[], turn: UnitTurn): Promise<LoadedHistory[]> {
  const k = keysFor(deps.redis, deps.prefix);
  const fromRedis = objects.filter((o) => !turn.earlier.has(o.id));
  const reading = loadHistories(
    deps.redis,
    fromRedis.map((o) => k.state(o.id)),
    deps.historyCache,
  );
  // Not awaited if a unit before fails first: never an unhandled rejection.
  reading.catch(() => {});
  const stages = [...new Set(turn.earlier.values())];
  const plannedBefore = await Promise.all(stages.map((s) => s.planned));
  const read = await reading;
  const byId = new Map(fromRedis.map((o, i) => [o.id, read[i]!]));
  return objects.map((o) => {
    const stage = turn.earlier.get(o.id);
    const history = stage ? plannedBefore[stages.indexOf(stage)]!.get(o.id) : byId.get(o.id);
    if (!history) throw new Error(`no history of ${o.id} from the unit before this one`);
    return history;
  });
}

/**
 * The histories to plan with: Redis's, and for objects Redis has none of (a new, flushed or
 * restarted-without-persistence Redis) their newest state in Elasticsearch, so their next write is
 * diffed against it (`baseline: known`). An object whose first write here is a create needs none (a
 * new object), so a batch of new objects asks nothing.
 */
async function withStoredStates(
  deps: BatchDeps,
  objects: BatchObject[],
  loaded: LoadedHistory[],
): Promise<Map<string, History | undefined>> {
  const histories = new Map<string, History | undefined>(objects.map((o, i) => [o.id, loaded[i]!.history]));
  const missing = objects.filter((o, i) => loaded[i]!.history === undefined && !o.createdFirst);
  if (missing.length === 0) return histories;
  const states = await latestStoredStates(
    deps.es,
    indexNames(deps.prefix).alias,
    missing.map((o) => o.key),
  );
  missing.forEach((o, n) => {
    const state = states[n];
    if (!state) return;
    try {
      histories.set(o.id, importBaseline(undefined, state.object, state.at));
      deps.log?.info(
        { cluster: o.key.cluster, object: o.id },
        'object history not in Redis: continued from its stored state in Elasticsearch',
      );
    } catch (err) {
      deps.log?.warn(
        { object: o.id, err: reasonOf(err) },
        'stored state in Elasticsearch unusable; diffing without a baseline',
      );
    }
  });
  return histories;
}

/**
 * Events the change engine threw on: dead-lettered one by one, in the order met, before the batch's
 * records are written. Logged once, as not diffable, and not counted in the {@link BatchResult}
 * (as before the planner was pure).
 */
async function deadLetterPoisoned(deps: BatchDeps, cluster: string, plan: Pick<BatchPlan, 'poisoned'>): Promise<void> {
  const { redis, prefix, metrics } = deps;
  for (const { event, reason, error } of plan.poisoned) {
    deps.log?.error(
      { cluster, auditID: event.auditID, err: error.message },
      'event could not be diffed; dead-lettered',
    );
    await deadLetterEvents({ redis, prefix, metrics }, cluster, [{ event, reason }]);
  }
}

/** The ids asked about before planning (a superset of the records'), and which of them Elasticsearch holds. */
interface AskedExisting {
  ids: ReadonlySet<string>;
  found: Promise<Map<string, string>>;
}

/** Enrich → seal → bulk → alert → confirm: the plans' records and repairs into Elasticsearch, in one bulk request. */
async function writeRecords(
  planned: readonly PlannedWork[],
  deps: BatchDeps,
  locator: RecordLocator,
  asked: AskedExisting,
  /** Where this unit is among the worker's units on the same objects: what it waits for, whom it tells. */
  turn: UnitTurn,
  /** Run once the bulk request is on its way, while Elasticsearch indexes (not run without one). */
  whileIndexing: () => void,
): Promise<void> {
  const alias = indexNames(deps.prefix).alias;
  const ingestedAt = Date.now();
  // Chained into every record: which configuration its derived fields were computed with.
  const digest = configDigest(deps.config);
  /** The part each record id counts for, and the cluster whose chain it is in. */
  const owner = new Map<string, Part>();
  const byCluster = planned.map((w) => {
    const { plan } = w;
    const creates: BulkAction[] = [];
    const unbuildable: Array<Poisoned & { part: Part }> = [];
    for (const r of plan.records) {
      const part = w.partOf.get(r.event);
      if (!part) throw new Error(`record ${r.id}: its event is not one of this chunk's`);
      part.result.mutations++;
      owner.set(r.id, part);
      try {
        const { actor, change: enriched, kind } = deps.enrich(r);
        // Which stored state the ops' old values come from: lets `verify` check them (not chained,
        // as repairs rewrite it together with the ops).
        const change = r.previous ? { ...enriched, prev_state_hash: stateHash(r.previous) } : enriched;
        creates.push({
          kind: 'create',
          id: r.id,
          doc: buildRecord({
            cluster: w.cluster,
            event: r.event,
            object: r.object,
            change,
            actor,
            kind,
            configDigest: digest,
            receivedAt: part.job.receivedAt,
            ingestedAt,
          }),
        });
      } catch (err) {
        // Its history is saved all the same, so a replay of the event finds the same predecessor
        // and makes the identical record.
        unbuildable.push({ event: r.event, reason: `record: ${reasonOf(err)}`, part });
      }
    }
    return { work: w, plan, creates, unbuildable };
  });
  for (const { work, unbuildable } of byCluster) {
    await deadLetterEvents(deps, work.cluster, unbuildable);
    for (const u of unbuildable) u.part.result.deadLettered++;
  }
  const allCreates = byCluster.flatMap((c) => c.creates);
  // Records already stored (a replay, or a retry after the write landed) keep their place in the
  // chain: only new ones are sealed, so a seq is never handed to a record that then answers 409.
  const existing = await asked.found;
  // A record under an id batchObjects did not foresee (none today), or one a unit before this one
  // may be storing (the same event in two jobs), is asked about now, under the same locks: the
  // latter once that unit's records are stored.
  const unasked = allCreates.filter((c) => !asked.ids.has(c.id)).map((c) => c.id);
  if (unasked.some((id) => turn.late.has(id))) await turn.storedBefore();
  if (unasked.length > 0) for (const [id, index] of await locator.findExisting(unasked)) existing.set(id, index);
  const count = (ids: Iterable<string>, field: 'created' | 'duplicates' | 'repaired'): void => {
    for (const id of ids) {
      const part = owner.get(id);
      if (part) part.result[field]++;
    }
  };
  const actions: BulkAction[] = [];
  // Stored by an attempt that then crashed before it confirmed its links — so before it enqueued
  // their alerts, which come between the write and the confirmation: they are alerted now.
  const unconfirmed = new Set<string>();
  // Split once: the stored ones keep their links and count as duplicates, the fresh ones are sealed and sent.
  const split = byCluster.map((c) => ({
    ...c,
    fresh: c.creates.filter((a) => !existing.has(a.id)),
    known: c.creates.filter((a) => existing.has(a.id)),
  }));
  await Promise.all(
    split.map(async ({ work, fresh, known }) => {
      if (deps.alerts) {
        const pending = await pendingLinks(
          deps.redis,
          deps.prefix,
          work.cluster,
          known.map((c) => c.id),
        );
        for (const id of pending) unconfirmed.add(id);
      }
      await sealChain(deps.redis, deps.prefix, work.cluster, fresh, () =>
        storedChainHead(deps.es, alias, work.cluster),
      );
    }),
  );
  let repairs = 0;
  for (const { work, plan, fresh, known } of split) {
    count(
      known.map((c) => c.id),
      'duplicates',
    );
    deps.metrics?.records.inc({ result: 'duplicate' }, known.length);
    actions.push(...fresh);
    for (const repair of plan.repairs) {
      const change = {
        ...repair.change,
        ...deps.enrich.repair(repair),
        prev_state_hash: repair.previous ? stateHash(repair.previous) : null,
        text: opsText(repair.change.ops),
      };
      actions.push({
        kind: 'update',
        id: repair.id,
        doc: { crtrail: { change } } satisfies StoredRecordDoc<'crtrail'>,
      });
      // A repair rewrites an earlier record: it counts for the first part of its cluster in this chunk.
      if (!owner.has(repair.id)) {
        const first = work.partOf.get(work.events[0]!);
        if (first) owner.set(repair.id, first);
      }
      repairs++;
    }
  }
  // The locator's second look only matters for repairs (which backing index holds the record).
  let stats: BulkStats | undefined;
  // After the records of the units before this one: a repair here may rewrite one of them.
  await turn.storedBefore();
  if (actions.length > 0) {
    const writing = timedBulk(deps, alias, actions, repairs > 0 ? locator : undefined);
    // One turn of the event loop hands the request to the socket; a failure surfaces at the await.
    writing.catch(() => {});
    await yieldToLoop();
    whileIndexing();
    stats = await writing;
  }
  turn.stored();
  // Alerts on what this write created (a replay's 409 or a repair never alerts again), and on what
  // an earlier attempt stored but never got to alert; enqueued before the links are confirmed, so a
  // crash in between leaves them pending and the retry alerts them (the alert queue dedupes by record).
  const created = new Set(stats?.createdIds ?? []);
  for (const { work, creates } of byCluster) {
    const toAlert = creates.filter((c) => created.has(c.id) || unconfirmed.has(c.id));
    if (deps.alerts && toAlert.length > 0) await deps.alerts.enqueue(work.cluster, toAlert);
  }
  // Stored, duplicate or dead-lettered (the dead letter keeps its links): the pending links are done with.
  await Promise.all(
    byCluster.map(({ work, creates }) =>
      confirmChain(
        deps.redis,
        deps.prefix,
        work.cluster,
        creates.map((c) => c.id),
      ),
    ),
  );
  if (!stats) return;
  count(stats.createdIds, 'created');
  count(stats.duplicateIds, 'duplicates');
  count(stats.updatedIds, 'repaired');
  deps.metrics?.records.inc({ result: 'created' }, stats.created);
  deps.metrics?.records.inc({ result: 'duplicate' }, stats.duplicates);
  deps.metrics?.records.inc({ result: 'repaired' }, stats.updated);
  deps.metrics?.bulkRetries.inc(stats.retries);
  // A repair of a record that is not in Elasticsearch yet (its own job crashed before writing and
  // will be retried against the repaired history) is not an error worth a dead letter.
  const rejected = stats.rejected.filter((r) => !(r.action.kind === 'update' && r.status === 404));
  for (const { work, creates } of byCluster) {
    const mine = new Set(creates.map((c) => c.id));
    const ofCluster = rejected.filter((r) =>
      r.action.kind === 'create' ? mine.has(r.action.id) : owner.get(r.action.id)?.job.cluster === work.cluster,
    );
    await deadLetterRecords(deps, work.cluster, ofCluster);
    for (const r of ofCluster) {
      const part = owner.get(r.action.id);
      if (part) part.result.deadLettered++;
    }
  }
}

async function timedBulk(
  deps: BatchDeps,
  alias: string,
  actions: BulkAction[],
  locator: RecordLocator | undefined,
): ReturnType<typeof bulkWrite> {
  const end = deps.metrics?.bulkSeconds.startTimer();
  try {
    return await bulkWrite(deps.es, alias, actions, deps.refresh ?? false, locator);
  } catch (err) {
    deps.metrics?.bulkErrors.inc({ kind: 'request_failed' });
    throw err;
  } finally {
    end?.();
  }
}

async function deadLetterRecords(deps: BatchDeps, cluster: string, rejected: BulkRejection[]): Promise<void> {
  if (rejected.length === 0) return;
  await pushDeadLetters(deps.redis, deps.prefix, cluster, rejected);
  deps.metrics?.dlq.inc({ type: 'record' }, rejected.length);
  deps.metrics?.bulkErrors.inc({ kind: 'item_refused' }, rejected.length);
  for (const r of rejected)
    deps.log?.error({ cluster, id: r.action.id, status: r.status, reason: r.reason }, 'record dead-lettered');
}

/** Sets aside events whose processing threw (see `EventDeadLetter` in @crtrail/state); the rest of the batch goes on. */
export async function deadLetterEvents(
  deps: Pick<BatchDeps, 'redis' | 'prefix' | 'metrics' | 'log'>,
  cluster: string,
  poisoned: Poisoned[],
): Promise<void> {
  if (poisoned.length === 0) return;
  await pushEventDeadLetters(deps.redis, deps.prefix, cluster, poisoned);
  deps.metrics?.dlq.inc({ type: 'event' }, poisoned.length);
  for (const p of poisoned)
    deps.log?.error(
      { cluster, auditID: p.event.auditID, reason: p.reason },
      'event could not be processed; dead-lettered (crtrail dlq list)',
    );
}
