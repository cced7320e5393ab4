import type { RedisClient } from '@crtrail/queue';
import { SharedLocks, withLocks, type LoadedHistory } from '@crtrail/state';

/**
 * Units of work of one worker process, pipelined on the objects they share. A unit is a serial
 * chain of waits (lock, load, plan, seal, bulk, save; bench/ANALYSIS.md): run one after the other
 * on hot objects, the next unit waited for the whole chain of the one before it, ~40 of every
 * ~100 ms with the main thread idle. Here the next unit takes the shared objects over as soon as
 * it can ({@link SharedLocks}) and plans on the histories the unit before it planned, in memory,
 * while that unit still waits for Elasticsearch and Redis. What keeps this as safe as one unit at a
 * time, step by step:
 *
 * - **Plan:** a unit plans on each object's history as Redis will hold it once the unit before it
 *   has saved it ({@link UnitStage.planned}).
 * - **Bulk:** its bulk request goes out only once every unit before it has stored its records
 *   ({@link UnitStage.stored}), so a repair never reaches Elasticsearch before the record it repairs,
 *   and the records of the unit before are stored whenever this unit's are.
 * - **Save:** its history save is sent only once the unit before it has saved ({@link UnitStage.saved}):
 *   saves land in planning order, each over the one it planned on, and a history in Redis never
 *   holds a version whose record is not stored (the crash-safety argument of one unit: a retried
 *   job recomputes identical records).
 * - **Existence:** a record id a unit before it may still store is asked about only once it has,
 *   so a record is never sealed twice.
 * - **Failure:** a unit whose predecessor failed fails too (its jobs are retried), since it planned on
 *   histories that will not be saved. A crash loses both units' jobs to BullMQ's stalled check, as
 *   before; what was stored and saved is a prefix of what one-at-a-time would have done.
 *
 * A unit of retried jobs runs `exclusive`: it neither follows nor is followed, so a job that keeps
 * failing cannot make the units around it fail with it.
 */
export interface UnitStage {
  /** For each object the unit locked (by id): its history as Redis holds it once the unit's save is applied. */
  readonly planned: Promise<ReadonlyMap<string, LoadedHistory>>;
  /** The unit's records are stored (its bulk request answered, or it had none). */
  readonly stored: Promise<void>;
  /** The unit's history save is applied (or it had none). */
  readonly saved: Promise<void>;
}

/** What a unit learns when it holds its objects, and how it tells the units after it where it is. */
export interface UnitTurn {
  /** By object id: the unit of this process it comes after on that object; absent: load from Redis. */
  readonly earlier: ReadonlyMap<string, UnitStage>;
  /** Record ids a unit before this one may still store: asked about only after {@link storedBefore}. */
  readonly late: ReadonlySet<string>;
  /** Every unit before this one has stored its records; rejects if one failed. */
  storedBefore(): Promise<void>;
  /** Every unit before this one has saved its histories; rejects if one failed. */
  savedBefore(): Promise<void>;
  planned(histories: ReadonlyMap<string, LoadedHistory>): void;
  stored(): void;
  saved(): void;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
  settled: boolean;
}

function deferred<T>(): Deferred<T> {
  const d = { settled: false } as Deferred<T>;
  d.promise = new Promise<T>((resolve, reject) => {
    d.resolve = (value) => {
      d.settled = true;
      resolve(value);
    };
    d.reject = (err) => {
      d.settled = true;
      reject(err);
    };
  });
  // Awaited by the units after this one, if any: never an unhandled rejection.
  d.promise.catch(() => {});
  return d;
}

class Stage implements UnitStage {
  readonly plannedD = deferred<ReadonlyMap<string, LoadedHistory>>();
  readonly storedD = deferred<undefined>();
  readonly savedD = deferred<undefined>();
  get planned(): Promise<ReadonlyMap<string, LoadedHistory>> {
    return this.plannedD.promise;
  }
  get stored(): Promise<undefined> {
    return this.storedD.promise;
  }
  get saved(): Promise<undefined> {
    return this.savedD.promise;
  }
  /** Whatever the unit had not reached yet fails with it, and so do the units waiting on it. */
  fail(err: unknown): void {
    const reason = new Error(
      `an earlier unit on the same objects failed: ${err instanceof Error ? err.message : String(err)}`,
    );
    const steps: Array<Pick<Deferred<unknown>, 'settled' | 'reject'>> = [this.plannedD, this.storedD, this.savedD];
    for (const d of steps) if (!d.settled) d.reject(reason);
  }
}

/** A unit's locked objects: its lock key for each object id. */
export interface UnitObjects {
  /** Object id → its lock key. */
  locks: ReadonlyMap<string, string>;
  /** The record ids the unit may create (asked about in Elasticsearch before it plans). */
  recordIds: readonly string[];
}

export class UnitPipeline {
  private readonly locks: SharedLocks<Stage>;
  /** Record ids of units not yet stored, with how many such units may create each. */
  private readonly unstored = new Map<string, number>();
  /** Objects a unit took over from the unit before it, since this pipeline was made. */
  takenOver = 0;

  constructor(redis: RedisClient) {
    this.locks = new SharedLocks<Stage>(redis);
  }

  /** Runs `fn` holding the unit's objects; `exclusive`: after no unit of this process, and before none. */
  async run<T>(objects: UnitObjects, fn: (turn: UnitTurn) => Promise<T>, exclusive = false): Promise<T> {
    const stage = new Stage();
    const objectOf = new Map([...objects.locks].map(([id, lock]) => [lock, id]));
    const joined = (earlierByLock: ReadonlyMap<string, Stage>): UnitTurn => {
      const earlier = new Map<string, Stage>();
      for (const [lock, s] of earlierByLock) {
        const id = objectOf.get(lock);
        if (id === undefined) throw new Error(`lock ${lock} is not one of this unit's objects`);
        earlier.set(id, s);
      }
      this.takenOver += earlier.size;
      const late = new Set(objects.recordIds.filter((id) => this.unstored.has(id)));
      for (const id of objects.recordIds) this.unstored.set(id, (this.unstored.get(id) ?? 0) + 1);
      const forget = (): void => {
        for (const id of objects.recordIds) {
          const n = (this.unstored.get(id) ?? 1) - 1;
          if (n > 0) this.unstored.set(id, n);
          else this.unstored.delete(id);
        }
      };
      void stage.stored.then(forget, forget);
      const before = [...new Set(earlier.values())];
      return {
        earlier,
        late,
        storedBefore: async () => {
          await Promise.all(before.map((s) => s.stored));
        },
        savedBefore: async () => {
          await Promise.all(before.map((s) => s.saved));
        },
        planned: (histories) => stage.plannedD.resolve(histories),
        stored: () => stage.storedD.resolve(undefined),
        saved: () => stage.savedD.resolve(undefined),
      };
    };
    // The stage is settled before the keys are let go of: a unit taking them over later must not
    // find a stage that will never settle.
    const settled = async (turn: UnitTurn): Promise<T> => {
      try {
        return await fn(turn);
      } catch (err) {
        stage.fail(err);
        throw err;
      } finally {
        // A unit that returned without reaching a step has nothing the units after it could wait for.
        stage.fail(new Error('the unit ended before it planned, stored or saved'));
      }
    };
    try {
      return await this.locks.hold([...objects.locks.values()], stage, joined, settled, exclusive);
    } catch (err) {
      // Failed before it held its objects (Redis unreachable, lock timeout): nobody came after it.
      stage.fail(err);
      throw err;
    }
  }
}

/** One unit at a time on its objects (no pipeline: a worker's deps built without one, benches and tests). */
export async function runAlone<T>(
  redis: RedisClient,
  objects: UnitObjects,
  fn: (turn: UnitTurn) => Promise<T>,
): Promise<T> {
  return withLocks(redis, [...objects.locks.values()], () =>
    fn({
      earlier: new Map(),
      late: new Set(),
      storedBefore: async () => {},
      savedBefore: async () => {},
      planned: () => {},
      stored: () => {},
      saved: () => {},
    }),
  );
}
