import { objectKeyString, type AuditEvent, type KubeObject, type ObjectKey } from '@crtrail/audit';
import {
  applyMutation,
  expandMutations,
  type ApplyResult,
  type ChangeFields,
  type Mutation,
  type RepairFields,
} from './engine.js';
import type { History } from './history.js';

/**
 * A batch's change planning without any I/O: which objects it writes ({@link batchObjects}), and,
 * given their histories, the records, the repairs of earlier records, the new histories and the
 * events that could not be processed ({@link planBatch}). The worker does the I/O around it (locks,
 * histories in Redis, Elasticsearch); the benches call it directly.
 */

/** An object a batch writes, in the order of its first write in the batch. */
export interface BatchObject {
  key: ObjectKey;
  /** `objectKeyString(key)`: the key of its history and of its lock. */
  id: string;
  /**
   * Its first write in the batch is a create: a new object, so a history missing from the state
   * store needs no stored state to start from.
   */
  createdFirst: boolean;
  /**
   * The ids of the records its writes in the batch would make (one per write): what the worker
   * asks Elasticsearch about (stored by an earlier attempt?) while the engine runs. A superset:
   * a replay or a poisoned event makes none.
   */
  recordIds: string[];
}

/** One record to create, as the change engine computed it; enrichment and the record document come after. */
export interface PlannedRecord<A = unknown> {
  id: string;
  event: AuditEvent;
  object?: KubeObject | undefined;
  change: ChangeFields;
  /** Stored state before this write, when known. */
  previous?: KubeObject | undefined;
  /** Who made the write, as {@link PlanOptions.actorOf} classified it (once per record); kept in the history for repairs. */
  actor?: A | undefined;
}

/** A record written earlier whose diff was computed against the wrong base (a late event): rewrite its change in place. */
export interface PlannedRepair {
  id: string;
  /** Only the predecessor-dependent fields (ops, paths, patch, kind, baseline, gap[, server_mutations]). */
  change: RepairFields;
  /** The repaired write's stored object and its (now known) predecessor, for re-enrichment. */
  object?: KubeObject | undefined;
  previous?: KubeObject | undefined;
  /** What the write was annotated with when first seen (`{ actor }`). */
  meta?: Record<string, unknown> | undefined;
  verb: string;
  /** The repaired record is a dry run / a failed write (dependents of a version): never drift. */
  dryRun: boolean;
  failed: boolean;
  group: string;
  resource?: string | undefined;
}

/** The new history of an object whose events changed it (replays change nothing and are not listed). */
export interface PlannedHistory {
  /** {@link BatchObject.id} of the object. */
  id: string;
  key: ObjectKey;
  history: History;
}

/** An event the change engine could not process: it is dead-lettered, not retried forever. */
export interface PoisonedEvent {
  event: AuditEvent;
  /** `change engine: <message>`, as the dead letter states it. */
  reason: string;
  error: Error;
}

export interface BatchPlan<A = unknown> {
  records: PlannedRecord<A>[];
  repairs: PlannedRepair[];
  historyWrites: PlannedHistory[];
  poisoned: PoisonedEvent[];
}

export interface PlanOptions<A = unknown> {
  /** JSON pointers left out of diffs; the engine's defaults when absent. */
  ignorePaths?: readonly string[] | undefined;
  /** Who made a write; kept with it in the history (`meta.actor`) and handed to its record. */
  actorOf?: ((event: AuditEvent, object: KubeObject | undefined) => A) | undefined;
}

/**
 * The objects `events` write, each once, in the order of their first write — the keys a worker
 * locks and whose histories it loads before {@link planBatch}. An event the engine cannot expand is
 * left out here; {@link planBatch} reports it as poisoned.
 */
export function batchObjects(cluster: string, events: readonly AuditEvent[]): BatchObject[] {
  const objects = new Map<string, BatchObject>();
  for (const event of events) {
    let expanded: ReturnType<typeof expandMutations>;
    try {
      expanded = expandMutations(event, cluster);
    } catch {
      continue;
    }
    for (const { key, mutation } of expanded) {
      const id = objectKeyString(key);
      let object = objects.get(id);
      if (!object) objects.set(id, (object = { key, id, createdFirst: event.verb === 'create', recordIds: [] }));
      object.recordIds.push(mutation.recordId);
    }
  }
  return [...objects.values()];
}

interface Group {
  key: ObjectKey;
  id: string;
  mutations: Mutation[];
  actors: unknown[];
}

const roleOf = (s: object): string | undefined => ('role' in s ? String(s.role) : undefined);
const poison = (event: AuditEvent, err: unknown): PoisonedEvent => {
  const error = err instanceof Error ? err : new Error(String(err));
  return { event, reason: `change engine: ${error.message}`, error };
};

/**
 * Applies a batch's events to their objects' histories, in batch order per object (objects in
 * the order of {@link batchObjects}): the records to create, the repairs of records written
 * earlier, the histories to save and the events that threw. Pure: `histories` holds each object's
 * history by {@link BatchObject.id} (absent or undefined: none known), and is not modified. A repair
 * of a record made in this same batch is folded into that record; a recordId met twice (an event
 * repeated within the batch) keeps the later computation in the first one's place.
 */
export function planBatch<A = unknown>(
  cluster: string,
  events: readonly AuditEvent[],
  histories: ReadonlyMap<string, History | undefined>,
  options: PlanOptions<A> = {},
): BatchPlan<A> {
  const poisoned: PoisonedEvent[] = [];
  const groups = new Map<string, Group>();
  for (const event of events) {
    let expanded: ReturnType<typeof expandMutations>;
    const actors: A[] = [];
    try {
      expanded = expandMutations(event, cluster);
      if (options.actorOf) {
        for (const { mutation } of expanded) {
          const actor = options.actorOf(event, mutation.object);
          mutation.meta = { actor };
          actors.push(actor);
        }
      }
    } catch (err) {
      poisoned.push(poison(event, err));
      continue;
    }
    expanded.forEach(({ key, mutation }, i) => {
      const id = objectKeyString(key);
      let g = groups.get(id);
      if (!g) groups.set(id, (g = { key, id, mutations: [], actors: [] }));
      g.mutations.push(mutation);
      g.actors.push(actors[i]);
    });
  }
  const engineOptions = options.ignorePaths ? { ignorePaths: options.ignorePaths } : undefined;
  const records: PlannedRecord<A>[] = [];
  /** Position in `records` by record id. */
  const recordAt = new Map<string, number>();
  const repairs: PlannedRepair[] = [];
  const historyWrites: PlannedHistory[] = [];
  for (const g of groups.values()) {
    const before = histories.get(g.id);
    let history = before;
    g.mutations.forEach((m, n) => {
      let result: ApplyResult;
      try {
        result = applyMutation(history, m, engineOptions);
      } catch (err) {
        poisoned.push(poison(m.event, err));
        return;
      }
      history = result.history;
      const record: PlannedRecord<A> = {
        id: m.recordId,
        event: m.event,
        object: m.object ?? undefined,
        change: result.record,
        previous: result.previous,
      };
      if (options.actorOf) record.actor = g.actors[n] as A;
      const own = recordAt.get(m.recordId);
      if (own !== undefined) records[own] = record;
      else recordAt.set(m.recordId, records.push(record) - 1);
      for (const repair of result.repairs) {
        const at = recordAt.get(repair.recordId);
        if (at !== undefined) {
          const inBatch = records[at]!;
          inBatch.change = { ...inBatch.change, ...repair.change };
          inBatch.previous = repair.previous;
        } else {
          const role = roleOf(repair.subject);
          repairs.push({
            id: repair.recordId,
            change: repair.change,
            object: repair.subject.object,
            previous: repair.previous,
            meta: repair.subject.meta,
            verb: repair.subject.verb,
            dryRun: role === 'dry-run',
            failed: role === 'failed-update' || role === 'failed',
            group: g.key.group,
            resource: g.key.resource,
          });
        }
      }
    });
    if (history && history !== before) historyWrites.push({ id: g.id, key: g.key, history });
  }
  return { records, repairs, historyWrites, poisoned };
}
