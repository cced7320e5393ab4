import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { objectKeyString, type AuditEvent, type KubeObject, type ObjectKey } from '@crtrail/audit';
import { applyMutation, expandMutations, importBaseline, type History, type Mutation } from '@crtrail/diff';
import { HistoryCache, keys, loadHistories, saveHistories, withLocks, type HistoryWrite, type LoadedHistory } from '@crtrail/state';
import type { ChangeTracker, TrackedRecord, TrackedRepair } from './tracker.js';

export interface EngineTrackerOptions {
  redis: Redis;
  prefix: string;
  log?: Logger;
  /** Paths left out of diffs (JSON pointers); the engine's defaults when absent. */
  ignorePaths?: string[];
  /** Annotations kept with each write in the history (its actor), handed back with any repair of it. */
  annotate?: (event: AuditEvent, object: KubeObject | undefined) => Record<string, unknown>;
  /** Called with events the engine could not process (poison input): they are dead-lettered, not retried forever. */
  onPoison?: (cluster: string, poisoned: PoisonedEvent[]) => Promise<void>;
  /**
   * The newest stored state of objects whose history Redis does not have (a new, flushed or
   * restarted-without-persistence Redis): their next write is then diffed against it (`baseline:
   * known`) instead of with an unknown baseline. Asked once per batch, only for such misses.
   */
  storedStates?: (keys: ObjectKey[]) => Promise<Array<{ object: KubeObject; at: string } | undefined>>;
}

/** An event the engine could not process, and why. */
export interface PoisonedEvent {
  event: AuditEvent;
  reason: string;
}

interface Group {
  key: ObjectKey;
  keyString: string;
  mutations: Mutation[];
}

const roleOf = (s: object): string | undefined => ('role' in s ? String(s.role) : undefined);

/**
 * The change engine at its Redis edge: per object, the bounded history of stored states lives under
 * `<prefix>:state:<cluster/group/resource/namespace/name>`. A batch's objects are locked (sorted,
 * so workers never deadlock), their histories read in one MGET, every mutation applied in batch
 * order, the records written (inside the lock, so a record always reaches Elasticsearch before any
 * repair of it), and only then the new histories saved. A crash anywhere is safe: the retried job
 * recomputes identical records (deterministic `_id`s, `create` → 409).
 */
export function createEngineTracker(options: EngineTrackerOptions): ChangeTracker {
  const { redis, prefix } = options;
  const k = keys(prefix);
  const cache = new HistoryCache();
  return {
    async track(cluster: string, events: AuditEvent[], write) {
      const groups = new Map<string, Group>();
      for (const event of events) {
        let expanded: ReturnType<typeof expandMutations>;
        try {
          expanded = expandMutations(event, cluster);
          for (const { mutation } of expanded) if (options.annotate) mutation.meta = options.annotate(event, mutation.object);
        } catch (err) {
          await poison(cluster, event, err as Error);
          continue;
        }
        for (const { key, mutation } of expanded) {
          const keyString = objectKeyString(key);
          let g = groups.get(keyString);
          if (!g) groups.set(keyString, (g = { key, keyString, mutations: [] }));
          g.mutations.push(mutation);
        }
      }
      if (groups.size === 0) return;
      const list = [...groups.values()];
      await withLocks(
        redis,
        list.map((g) => k.lock(g.keyString)),
        async () => {
          const loaded = await loadHistories(redis, list.map((g) => k.state(g.keyString)), cache);
          const start = await fillFromStore(list, loaded);
          const records: TrackedRecord[] = [];
          const repairs: TrackedRepair[] = [];
          const histories: HistoryWrite[] = [];
          const poisoned: Array<[AuditEvent, Error]> = [];
          list.forEach((g, i) => {
            const key = k.state(g.keyString);
            const stored = loaded[i]!;
            // Saved against what Redis holds (`stored`), so a state taken from Elasticsearch is written too.
            let history: History | undefined = start[i];
            const before = history;
            for (const m of g.mutations) {
              let result: ReturnType<typeof applyMutation>;
              try {
                result = applyMutation(history, m, options.ignorePaths ? { ignorePaths: options.ignorePaths } : undefined);
              } catch (err) {
                poisoned.push([m.event, err as Error]);
                continue;
              }
              history = result.history;
              const own = records.findIndex((r) => r.id === m.recordId);
              const record: TrackedRecord = { id: m.recordId, event: m.event, object: m.object ?? undefined, change: result.record, previous: result.previous };
              if (own >= 0) records[own] = record;
              else records.push(record);
              for (const repair of result.repairs) {
                // A repair of a record made in this same batch: fold it into that record.
                const inBatch = records.find((r) => r.id === repair.recordId);
                if (inBatch) {
                  inBatch.change = { ...inBatch.change, ...repair.change };
                  inBatch.previous = repair.previous;
                } else {
                  repairs.push({
                    id: repair.recordId,
                    change: repair.change,
                    object: repair.subject.object,
                    previous: repair.previous,
                    meta: repair.subject.meta,
                    verb: repair.subject.verb,
                    dryRun: roleOf(repair.subject) === 'dry-run',
                    failed: roleOf(repair.subject) === 'failed-update' || roleOf(repair.subject) === 'failed',
                    group: g.key.group,
                    resource: g.key.resource,
                  });
                }
              }
            }
            // Replays change nothing: no write back.
            if (history && history !== before) histories.push({ key, before: stored, after: history });
          });
          for (const [event, err] of poisoned) await poison(cluster, event, err);
          await write({ records, repairs });
          await saveHistories(redis, histories, cache);
        },
      );
    },
  };

  async function poison(cluster: string, event: AuditEvent, err: Error): Promise<void> {
    options.log?.error({ cluster, auditID: event.auditID, err: err.message }, 'event could not be diffed; dead-lettered');
    await options.onPoison?.(cluster, [{ event, reason: `change engine: ${err.message}` }]);
  }

  /**
   * Redis has no history for these objects: take their newest state from Elasticsearch. A group
   * that starts with a create needs none (a new object), so a batch of new objects asks nothing.
   */
  async function fillFromStore(list: Group[], loaded: LoadedHistory[]): Promise<Array<History | undefined>> {
    const start = loaded.map((l) => l.history);
    if (!options.storedStates) return start;
    const missing = list.map((g, i) => [g, i] as const).filter(([g, i]) => loaded[i]!.history === undefined && g.mutations[0]?.event.verb !== 'create');
    if (missing.length === 0) return start;
    const states = await options.storedStates(missing.map(([g]) => g.key));
    missing.forEach(([g, i], n) => {
      const state = states[n];
      if (!state) return;
      try {
        start[i] = importBaseline(undefined, state.object, state.at);
        options.log?.info({ cluster: g.key.cluster, object: g.keyString }, 'object history not in Redis: continued from its stored state in Elasticsearch');
      } catch (err) {
        options.log?.warn({ object: g.keyString, err: (err as Error).message }, 'stored state in Elasticsearch unusable; diffing without a baseline');
      }
    });
    return start;
  }
}
