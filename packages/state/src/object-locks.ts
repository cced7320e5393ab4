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

/** Runs `fn` holding the locks of all `keys` (from `keys(prefix).lock`), renewed while it runs, released after. */
export async function withLocks<T>(redis: RedisClient, keys: string[], fn: () => Promise<T>): Promise<T> {
  const all = [...new Set(keys)];
  const token = randomBytes(12).toString('hex');
  const deadline = Date.now() + LOCK.acquireDeadlineMs;
  for (;;) {
    const ok = await acquireAll(redis, all, [token, LOCK.leaseMs]);
    if (ok === 1) break;
    if (Date.now() > deadline) throw new LockTimeoutError(all.join(', '));
    // Other processes' releases are only seen by polling; this process's wake the waiter at once.
    await releasedLocally(all, LOCK.retryMinMs + Math.random() * (LOCK.retryMaxMs - LOCK.retryMinMs));
  }
  const renew = setInterval(() => {
    void renewAll(redis, all, [token, LOCK.leaseMs]).catch(() => {});
  }, LOCK.renewEveryMs);
  try {
    return await fn();
  } finally {
    clearInterval(renew);
    await releaseAll(redis, all, [token]).catch(() => 0);
    wakeLocal(all);
  }
}
