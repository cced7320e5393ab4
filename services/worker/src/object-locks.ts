import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

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

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class LockTimeoutError extends Error {
  constructor(key: string) {
    super(`could not lock ${key} within ${LOCK.acquireDeadlineMs} ms`);
    this.name = 'LockTimeoutError';
  }
}

/**
 * Runs `fn` holding the locks of all `keys`. Keys are taken in sorted order so two workers that
 * need overlapping sets never deadlock.
 */
export async function withLocks<T>(redis: Redis, keys: string[], fn: () => Promise<T>): Promise<T> {
  const sorted = [...new Set(keys)].sort();
  const token = randomBytes(12).toString('hex');
  const held: string[] = [];
  const renew = setInterval(() => {
    for (const k of held) void redis.eval(RENEW, 1, k, token, String(LOCK.leaseMs)).catch(() => {});
  }, LOCK.renewEveryMs);
  try {
    for (const key of sorted) {
      const deadline = Date.now() + LOCK.acquireDeadlineMs;
      for (;;) {
        const ok = await redis.set(key, token, 'PX', LOCK.leaseMs, 'NX');
        if (ok === 'OK') break;
        if (Date.now() > deadline) throw new LockTimeoutError(key);
        await sleep(LOCK.retryMinMs + Math.random() * (LOCK.retryMaxMs - LOCK.retryMinMs));
      }
      held.push(key);
    }
    return await fn();
  } finally {
    clearInterval(renew);
    await Promise.all(held.map((k) => redis.eval(RELEASE, 1, k, token).catch(() => 0)));
  }
}
