import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch } from 'undici';
import { backoff, validateEvent, type AuditEvent } from '@crtrail/audit';
import { isCustomResourceMutation } from '@crtrail/filter';
import { MAX_LISTED_INVALID, readEvents, type ReadEvent, type ReadStats } from './read-events.js';

/** Like the apiserver's webhook backend: retry a refused batch (429/5xx) with backoff, then give up on it. */
const REPLAY_RETRY = Object.freeze({ attempts: 6, initialDelayMs: 500, factor: 2, maxDelayMs: 10_000 });
/**
 * A webhook that cannot be reached at all (refused, unknown host, TLS mismatch) will not be reached by
 * the next batch either: after this many quick tries the replay stops and says why, instead of
 * retrying every batch for half a minute in silence.
 */
const UNREACHABLE_TRIES = 2;
const UNREACHABLE_DELAY_MS = 500;
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
function transportOf(options: Omit<ReplayOptions, 'files'>): Transport {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (Boolean(options.cert) !== Boolean(options.key)) throw new Error('--cert and --key go together');
  if (!options.ca && !options.cert) return { headers };
  const connect = {
    ...(options.ca ? { ca: readPem(options.ca, 'CA') } : {}),
    ...(options.cert && options.key
      ? { cert: readPem(options.cert, 'client certificate'), key: readPem(options.key, 'client key') }
      : {}),
  };
  return { headers, dispatcher: new Agent({ connect }) };
}

/**
 * The batch URL for `--url` and `--cluster`: a base URL gets `/audit/<cluster>`; a URL that already ends
 * in `/audit` (as in the apiserver's kubeconfig) gets `/<cluster>`; one ending in `/audit/<name>` is used
 * as it is (the path names the cluster, as it does for the apiserver).
 */
export function batchUrl(base: string, cluster: string): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new Error(
      `--url ${JSON.stringify(base)} is not a URL: give the webhook's address, e.g. http://127.0.0.1:8080`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`--url ${base}: only http:// and https:// webhooks exist`);
  const path = url.pathname.replace(/\/+$/, '');
  if (/\/audit\/[^/]+$/.test(path)) url.pathname = path;
  else if (path.endsWith('/audit')) url.pathname = `${path}/${encodeURIComponent(cluster)}`;
  else url.pathname = `${path}/audit/${encodeURIComponent(cluster)}`;
  return url.toString();
}

/** The error codes of a connection that cannot be made at all, and what they mean to the user. */
function unreachableCause(err: unknown, url: string): string | undefined {
  let code: string | undefined;
  let message = '';
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string' && !code) code = c;
    message += ` ${(e as { message?: string }).message ?? ''}`;
  }
  const host = new URL(url).host;
  const https = url.startsWith('https:');
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused by ${host} (ECONNREFUSED): is the webhook running there (npx crtrail up)?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host ${new URL(url).hostname} not found (${code})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return `${host} cannot be reached (${code})`;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'EPROTO':
      return `TLS handshake with ${host} failed (${code}): the webhook there speaks plain HTTP? use http://`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `the webhook's certificate is not trusted (${code}): pass --ca with the CA that signed it`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the webhook's certificate does not name ${new URL(url).hostname} (${code})`;
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
      // Plain HTTP to a TLS port: the server drops the connection at the first byte.
      if (!https)
        return `${host} closed the connection before answering (${code}): is it an HTTPS webhook? use https:// and --ca`;
      if (/certificate|handshake|alert/i.test(message))
        return `TLS handshake with ${host} failed (${code}): a client certificate is required? pass --cert and --key`;
      return undefined;
    default:
      // The fetch standard refuses some ports outright (1, 22, 25, 6000…): no request is ever made.
      if (/\bbad port\b/.test(message))
        return `port ${new URL(url).port} is one that HTTP clients refuse to use ("bad port"): run the webhook on another port`;
      if (/alert|handshake/i.test(message))
        return `TLS handshake with ${host} failed: a client certificate is required? pass --cert and --key`;
      return undefined;
  }
}

/** The webhook cannot be reached: the replay stops (nothing later could be delivered either). */
export class WebhookUnreachableError extends Error {}

export interface ReplaySummary extends ReadStats {
  batches: number;
  sent: number;
  accepted: number;
  rejected: number;
  rejections: string[];
  /** Events refused by the local check before sending (`file:line: reason`), like the webhook's 400 would. */
  invalidEvents: number;
  /** Of the accepted events, the custom-resource writes: the ones that become records. */
  writes: number;
  /** auditIDs of the accepted custom-resource writes (for `--wait`). */
  writeIds: Set<string>;
  /** Events not sent because the webhook could not be reached. */
  notSent: number;
}

async function post(
  url: string,
  items: Record<string, unknown>[],
  transport: Transport,
): Promise<{ status: number; body: string; retryAfter?: number }> {
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

async function send(url: string, items: AuditEvent[], summary: ReplaySummary, transport: Transport): Promise<void> {
  summary.batches++;
  let lastError = '';
  let unreachable = 0;
  for (let attempt = 0; attempt < REPLAY_RETRY.attempts; attempt++) {
    try {
      const res = await post(url, items as unknown as Record<string, unknown>[], transport);
      if (res.status === 200) {
        const accepted = (JSON.parse(res.body) as { accepted?: number }).accepted ?? 0;
        summary.sent += items.length;
        summary.accepted += accepted;
        summary.rejected += items.length - accepted;
        if (accepted === items.length) {
          for (const e of items) {
            if (!isCustomResourceMutation(e)) continue;
            summary.writes++;
            summary.writeIds.add(e.auditID);
          }
        }
        return;
      }
      lastError = `HTTP ${res.status}: ${res.body.slice(0, 500)}`;
      if (res.status === 404) lastError += ` (no audit route at ${new URL(url).pathname}: check --url)`;
      if (res.status !== 429 && res.status < 500) break; // a 4xx will not get better
      await sleep(res.retryAfter ? res.retryAfter * 1000 : backoff(REPLAY_RETRY, attempt));
    } catch (err) {
      const cause = unreachableCause(err, url);
      if (cause && ++unreachable >= UNREACHABLE_TRIES)
        throw new WebhookUnreachableError(`cannot send to ${url} (--url): ${cause}`);
      lastError = cause ?? (err as Error).message;
      await sleep(cause ? UNREACHABLE_DELAY_MS : backoff(REPLAY_RETRY, attempt));
    }
  }
  summary.sent += items.length;
  summary.rejected += items.length;
  summary.rejections.push(`batch ${summary.batches} (${items.length} events): ${lastError}`);
}

/**
 * Sends the events of `files` to the webhook as EventList batches, in file order. Each event is first
 * checked as the webhook checks it: a bad one is reported by `file:line` and left out, so it does not
 * cost its whole batch. Throws {@link WebhookUnreachableError} (with the summary so far in `summary`)
 * when the webhook cannot be reached.
 */
export async function replay(options: ReplayOptions, summary: ReplaySummary = emptySummary()): Promise<ReplaySummary> {
  async function* fromFiles(): AsyncGenerator<ReadEvent> {
    for (const file of options.files) yield* readEvents(file, summary);
  }
  return replayEvents(fromFiles(), options, summary);
}

/** {@link replay} of events from anywhere (files, a generated story), each with where it came from. */
export async function replayEvents(
  source: AsyncIterable<ReadEvent> | Iterable<ReadEvent>,
  options: Omit<ReplayOptions, 'files'>,
  summary: ReplaySummary = emptySummary(),
): Promise<ReplaySummary> {
  const transport = transportOf(options);
  let pending: AuditEvent[] = [];
  const flush = async (): Promise<void> => {
    const batch = pending;
    pending = [];
    try {
      await send(options.url, batch, summary, transport);
    } catch (err) {
      summary.notSent += batch.length;
      throw err;
    }
    options.progress?.(`sent ${summary.sent} events in ${summary.batches} batches`);
  };
  for await (const { event, where } of source) {
    const checked = validateEvent(event, where);
    if (!checked.ok) {
      summary.invalidEvents++;
      if (summary.invalid.length < MAX_LISTED_INVALID) summary.invalid.push(checked.reason);
      continue;
    }
    pending.push(checked.value);
    if (pending.length >= options.batch) await flush();
  }
  if (pending.length > 0) await flush();
  return summary;
}

export function emptySummary(): ReplaySummary {
  return {
    events: 0,
    skippedV1beta1: 0,
    invalidLines: 0,
    invalid: [],
    skippedRecords: 0,
    invalidEvents: 0,
    batches: 0,
    sent: 0,
    accepted: 0,
    rejected: 0,
    rejections: [],
    writes: 0,
    writeIds: new Set(),
    notSent: 0,
  };
}
