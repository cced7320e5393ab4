import { randomBytes } from 'node:crypto';
import type { RedisClient } from '@crtrail/queue';
import { luaScript } from './lua.js';

/**
 * Per-object mutual exclusion across any number of workers, so that one object's events are
 * applied to its history one at a time (objects in parallel). A plain Redis lease: SET NX PX with
 * a random token, renewed while held, released only by its owner (compare-and-delete).
 */
export const LOCK = Object.freeze({
  leaseMs: 30_000,
  renewEveryMs: 10_000,
  retryMinMs: 5,
  retryMaxMs: 50,
  /** Give up (the job fails and BullMQ retries it) rather than wait forever behind a stuck holder. */
  acquireDeadlineMs: 120_000,
});

/** Every key still held with this token is released (compare-and-delete), in one round trip. */
const releaseAll = luaScript('release-locks-n.lua');
/** Every key still held with this token gets a new lease. */
const renewAll = luaScript('renew-locks-n.lua');

export class LockTimeoutError extends Error {
  constructor(keys: string) {
    super(`could not lock ${keys} within ${LOCK.acquireDeadlineMs} ms`);
    this.name = 'LockTimeoutError';
  }
}

/**
 * Takes every key or none, atomically: one round trip for a batch's whole set of objects, and no
 * deadlock between workers whose sets overlap (nobody ever holds part of a set while waiting).
 */
const acquireAll = luaScript('acquire-locks-n.lua');

/**
 * Jobs of this process waiting for a key another job of this process holds: woken the moment it is
 * released instead of at their next poll (with a worker's jobs contending for the same hot objects,
 * the polling sleeps were a third of the worker's time spent idle).
 */
const localWaiters = new Map<string, Set<() => void>>();

function releasedLocally(keys: string[], ms: number): Promise<void> {
  return new Promise((resolveWait) => {
    const wake = (): void => {
      clearTimeout(timer);
      for (const k of keys) localWaiters.get(k)?.delete(wake);
      resolveWait();
    };
    const timer = setTimeout(wake, ms);
    for (const k of keys) {
      let set = localWaiters.get(k);
      if (!set) localWaiters.set(k, (set = new Set()));
      set.add(wake);
    }
  });
}

function wakeLocal(keys: string[]): void {
  for (const k of keys) {
    const set = localWaiters.get(k);
    if (!set) continue;
    localWaiters.delete(k);
    for (const wake of set) wake();
  }
}

/**
 * Runs `fn` holding the locks of all `keys` (from `keys(prefix).lock`), renewed while it runs,
 * released after: alone, under a token of its own, sharing them with nobody (a one-off
 * {@link SharedLocks}, exclusive).
 */
export async function withLocks<T>(redis: RedisClient, keys: string[], fn: () => Promise<T>): Promise<T> {
  return new SharedLocks<undefined>(redis).hold(keys, undefined, () => undefined, fn, true);
}

/** A lock key this process holds, shared by its units (see {@link SharedLocks}). */
interface Holding<S> {
  /** Units of this process holding it now (a unit trying to take its other keys counts too). */
  users: number;
  /** The stage of the unit that took it last: the next unit to take it comes after that one. */
  last: S;
  /** Its holder shares it with nobody (a retried job's unit). */
  exclusive: boolean;
}

/**
 * The object locks of one process, shared by its units of work: a unit that needs keys another
 * unit of this process holds takes them over from it at once (re-entrant, per process), and learns
 * which unit it comes after on each (`S`, that unit's stage), instead of waiting for that unit's
 * whole chain of round trips to end (bench/ANALYSIS.md: a unit waited ~40 of its ~100 ms with the
 * worker's main thread idle). Ordering the units' steps after one another is the caller's; to every
 * other process, the keys are held by this one (one token) from the first unit's take to the last
 * unit's release, so nothing changes for them.
 *
 * No deadlock between processes: a unit never waits while it holds anything. The keys it would take
 * over are held on its behalf only during the one round trip that tries to take the rest, all or
 * none, as {@link withLocks} does; if that fails, it lets go of them and waits like any other.
 */
export class SharedLocks<S> {
  private readonly token = randomBytes(12).toString('hex');
  private readonly held = new Map<string, Holding<S>>();
  /**
   * Units of this process waiting for their keys, oldest first: a unit never overtakes an older one
   * that wants one of its keys, so units take an object over in the order they asked for it (the
   * order the worker took their jobs in; overtaken, the older unit's events would reach the engine
   * late and be repaired in).
   */
  private readonly queue: Array<ReadonlySet<string>> = [];
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(private readonly redis: RedisClient) {}

  /**
   * Runs `fn` holding every key of `keys`. `joined` is called the moment they are held, with the
   * stage each key was taken over from (keys taken from Redis have none), before any other unit can
   * take them over in turn; its result is handed to `fn`. An `exclusive` unit neither takes keys
   * over nor lets others take over its keys.
   */
  async hold<J, T>(
    keys: string[],
    stage: S,
    joined: (earlier: ReadonlyMap<string, S>) => J,
    fn: (joined: J) => Promise<T>,
    exclusive = false,
  ): Promise<T> {
    const all = [...new Set(keys)];
    const deadline = Date.now() + LOCK.acquireDeadlineMs;
    const mine: ReadonlySet<string> = new Set(all);
    this.queue.push(mine);
    let earlier: Map<string, S> | undefined;
    try {
      for (;;) {
        const older = this.queue.slice(0, this.queue.indexOf(mine));
        if (!older.some((o) => all.some((k) => o.has(k)))) earlier = await this.attempt(all, stage, exclusive);
        if (earlier) break;
        if (Date.now() > deadline) throw new LockTimeoutError(all.join(', '));
        // Other processes' releases are only seen by polling; this process's wake the waiter at once.
        await releasedLocally(all, LOCK.retryMinMs + Math.random() * (LOCK.retryMaxMs - LOCK.retryMinMs));
      }
    } finally {
      this.queue.splice(this.queue.indexOf(mine), 1);
      // The units queued behind this one on its keys may go now.
      if (this.queue.length > 0) wakeLocal(all);
    }
    try {
      return await fn(joined(earlier));
    } finally {
      await this.release(all);
    }
  }

  /** Keys held by this process now (for tests and metrics). */
  get size(): number {
    return this.held.size;
  }

  private async attempt(all: string[], stage: S, exclusive: boolean): Promise<Map<string, S> | undefined> {
    const local: Array<[string, Holding<S>]> = [];
    const remote: string[] = [];
    for (const k of all) {
      const holding = this.held.get(k);
      if (holding) local.push([k, holding]);
      else remote.push(k);
    }
    if (local.some(([, h]) => exclusive || h.exclusive)) return undefined;
    const localKeys = local.map(([k]) => k);
    // Held on this unit's behalf during the round trip: their holders may finish meanwhile.
    for (const [, h] of local) h.users++;
    let ok: unknown = 1;
    if (remote.length > 0) {
      try {
        ok = await acquireAll(this.redis, remote, [this.token, LOCK.leaseMs]);
      } catch (err) {
        await this.release(localKeys);
        throw err;
      }
    }
    if (ok !== 1) {
      await this.release(localKeys);
      return undefined;
    }
    // Synchronous from here to `joined`: no other unit can take these keys over in between.
    const earlier = new Map<string, S>();
    for (const [k, holding] of local) {
      earlier.set(k, holding.last);
      holding.last = stage;
    }
    for (const k of remote) this.held.set(k, { users: 1, last: stage, exclusive });
    this.renewTimer ??= setInterval(() => {
      if (this.held.size > 0)
        void renewAll(this.redis, [...this.held.keys()], [this.token, LOCK.leaseMs]).catch(() => {});
    }, LOCK.renewEveryMs);
    return earlier;
  }

  private async release(keys: string[]): Promise<void> {
    const free: string[] = [];
    for (const k of keys) {
      const holding = this.held.get(k);
      if (!holding) continue;
      if (--holding.users > 0) continue;
      this.held.delete(k);
      free.push(k);
    }
    if (this.held.size === 0) {
      clearInterval(this.renewTimer);
      this.renewTimer = undefined;
    }
    if (free.length === 0) return;
    await releaseAll(this.redis, free, [this.token]).catch(() => 0);
    wakeLocal(free);
  }
}
