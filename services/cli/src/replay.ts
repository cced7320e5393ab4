import { readFileSync } from 'node:fs';
import { Agent, fetch } from 'undici';
import { readEvents, type ReadStats } from './read-events.js';

/** Like the apiserver's webhook backend: retry a refused batch with backoff, then give up on it. */
export const REPLAY_RETRY = Object.freeze({ attempts: 6, initialDelayMs: 500, factor: 2, maxDelayMs: 10_000 });
const REQUEST_TIMEOUT_MS = 30_000;

export interface ReplayOptions {
  files: string[];
  url: string;
  batch: number;
  progress?: (line: string) => void;
  /** Bearer token, when the webhook requires one (CRTRAIL_AUTH_TOKENS_FILE). */
  token?: string;
  /** PEM files: the CA that signed the webhook's certificate; a client certificate and key for mTLS. */
  ca?: string;
  cert?: string;
  key?: string;
}

interface Transport {
  headers: Record<string, string>;
  dispatcher?: Agent;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/** The credentials an apiserver's webhook kubeconfig would carry, for a webhook with TLS or tokens. */
function transportOf(options: ReplayOptions): Transport {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (Boolean(options.cert) !== Boolean(options.key)) throw new Error('--cert and --key go together');
  if (!options.ca && !options.cert) return { headers };
  const connect = {
    ...(options.ca ? { ca: readPem(options.ca, 'CA') } : {}),
    ...(options.cert ? { cert: readPem(options.cert, 'client certificate'), key: readPem(options.key!, 'client key') } : {}),
  };
  return { headers, dispatcher: new Agent({ connect }) };
}

export interface ReplaySummary extends ReadStats {
  batches: number;
  sent: number;
  accepted: number;
  rejected: number;
  rejections: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function post(url: string, items: Record<string, unknown>[], transport: Transport): Promise<{ status: number; body: string; retryAfter?: number }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: transport.headers,
    ...(transport.dispatcher ? { dispatcher: transport.dispatcher } : {}),
    body: JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const retryAfter = Number(res.headers.get('retry-after'));
  return { status: res.status, body: await res.text(), ...(retryAfter > 0 ? { retryAfter } : {}) };
}

async function send(url: string, items: Record<string, unknown>[], summary: ReplaySummary, transport: Transport): Promise<void> {
  summary.batches++;
  summary.sent += items.length;
  let lastError = '';
  for (let attempt = 0; attempt < REPLAY_RETRY.attempts; attempt++) {
    try {
      const res = await post(url, items, transport);
      if (res.status === 200) {
        const accepted = (JSON.parse(res.body) as { accepted?: number }).accepted ?? 0;
        summary.accepted += accepted;
        summary.rejected += items.length - accepted;
        return;
      }
      lastError = `HTTP ${res.status}: ${res.body.slice(0, 500)}`;
      if (res.status !== 429 && res.status < 500) break; // a 4xx will not get better
      await sleep(res.retryAfter ? res.retryAfter * 1000 : backoff(attempt));
    } catch (err) {
      lastError = (err as Error).message;
      await sleep(backoff(attempt));
    }
  }
  summary.rejected += items.length;
  summary.rejections.push(`batch ${summary.batches} (${items.length} events): ${lastError}`);
}

function backoff(attempt: number): number {
  return Math.min(REPLAY_RETRY.maxDelayMs, REPLAY_RETRY.initialDelayMs * REPLAY_RETRY.factor ** attempt);
}

/** Sends the events of `files` to the webhook as EventList batches, in file order. */
export async function replay(options: ReplayOptions): Promise<ReplaySummary> {
  const summary: ReplaySummary = { events: 0, skippedV1beta1: 0, invalidLines: 0, batches: 0, sent: 0, accepted: 0, rejected: 0, rejections: [] };
  const transport = transportOf(options);
  let pending: Record<string, unknown>[] = [];
  for (const file of options.files) {
    for await (const event of readEvents(file, summary)) {
      pending.push(event);
      if (pending.length >= options.batch) {
        await send(options.url, pending, summary, transport);
        pending = [];
        options.progress?.(`sent ${summary.sent} events in ${summary.batches} batches`);
      }
    }
  }
  if (pending.length > 0) await send(options.url, pending, summary, transport);
  options.progress?.(`sent ${summary.sent} events in ${summary.batches} batches`);
  return summary;
}
