/**
 * Sends batches the way kube-apiserver's webhook backend does: POST an EventList, wait at most 30 s,
 * and on anything but a 2xx (connection refused, timeout, 4xx, 5xx) retry with exponential backoff a
 * few times, then drop the batch. The apiserver starts at 10 s; the suite at 1 s (the ×1.5 steps are
 * the same), so a fault lasting seconds is ridden out as an apiserver would, in a test's time.
 */

import { setTimeout as sleep } from 'node:timers/promises';

export interface SendPolicy {
  initialDelayMs: number;
  factor: number;
  /** Attempts in all (the first + retries). */
  attempts: number;
  timeoutMs: number;
}

export const APISERVER_LIKE: SendPolicy = Object.freeze({
  initialDelayMs: 1_000,
  factor: 1.5,
  attempts: 6,
  timeoutMs: 30_000,
});

export interface Attempt {
  /** HTTP status, or 0 when no answer came (refused, reset, timed out). */
  status: number;
  retryAfter?: string;
  error?: string;
  /** When the attempt started (epoch ms), and how long it took. */
  at: number;
  ms: number;
}

export interface BatchOutcome {
  acked: boolean;
  attempts: Attempt[];
}

/** POSTs `items` to `<url>/audit/<cluster>` with the apiserver's retry behaviour. Acked = a 200 came back. */
export async function sendBatch(
  url: string,
  cluster: string,
  items: unknown[],
  policy: SendPolicy = APISERVER_LIKE,
): Promise<BatchOutcome> {
  const body = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });
  const attempts: Attempt[] = [];
  let delay = policy.initialDelayMs;
  for (let i = 0; i < policy.attempts; i++) {
    const started = Date.now();
    try {
      const res = await fetch(`${url}/audit/${cluster}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(policy.timeoutMs),
      });
      const text = await res.text();
      const attempt: Attempt = { status: res.status, at: started, ms: Date.now() - started };
      const retryAfter = res.headers.get('retry-after');
      if (retryAfter) attempt.retryAfter = retryAfter;
      if (res.status !== 200) attempt.error = text.slice(0, 300);
      attempts.push(attempt);
      if (res.status === 200) return { acked: true, attempts };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      attempts.push({ status: 0, error: e.cause?.code ?? e.name ?? e.message, at: started, ms: Date.now() - started });
    }
    if (i < policy.attempts - 1) {
      await sleep(delay);
      delay *= policy.factor;
    }
  }
  return { acked: false, attempts };
}
