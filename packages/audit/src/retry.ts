/**
 * Capped exponential backoff, the one arithmetic behind every retry policy of crtrail (batch jobs,
 * Elasticsearch bulk items, `crtrail replay`). Each caller keeps its own numbers; only this is shared.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** A retry policy's delays: `initialDelayMs × factor^n`, at most `maxDelayMs`, optionally spread. */
export interface BackoffPolicy {
  readonly initialDelayMs: number;
  readonly factor: number;
  readonly maxDelayMs: number;
  /**
   * Spread each delay uniformly over ± this fraction of it (0.2: 80–120 %), rounded to a whole ms,
   * so that the retries of many writers throttled at once do not arrive together again. Default 0.
   */
  readonly jitter?: number;
}

/** A {@link BackoffPolicy} with the number of attempts {@link retry} makes in all (the first included). */
export interface RetryPolicy extends BackoffPolicy {
  readonly attempts: number;
}

/**
 * The delay (ms) before retry number `n + 1`: `n` = 0 waits `initialDelayMs`, each further retry
 * `factor` times longer, capped at `maxDelayMs`, then spread by `jitter`.
 */
export function backoff(policy: BackoffPolicy, n: number): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** n);
  const jitter = policy.jitter ?? 0;
  if (jitter === 0) return base;
  const spread = base * jitter;
  return Math.round(base - spread + Math.random() * 2 * spread);
}

/** Which failures {@link retry} tries again; by default every one. */
export interface RetryOptions {
  retryable?: (err: unknown) => boolean;
}

/**
 * Runs `fn` until it resolves, at most `policy.attempts` times, waiting {@link backoff} between
 * attempts; rethrows the last failure, or at once one that `retryable` refuses. `fn` is told the
 * attempt number (0 first).
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  options: RetryOptions = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt + 1 >= policy.attempts || (options.retryable && !options.retryable(err))) throw err;
      await sleep(backoff(policy, attempt));
    }
  }
}
