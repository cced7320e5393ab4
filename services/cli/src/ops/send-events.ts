import { loadEnv } from '@crtrail/config';
import { createEsClient, esConnectionFromEnv, indexNames, shownEsUrl } from '@crtrail/store';
import { CliError } from '../errors.js';
import { batchUrl, emptySummary, WebhookUnreachableError, type ReplayOptions, type ReplaySummary } from './replay.js';
import { waitForRecords } from './wait-records.js';

/** How `replay` and `demo` reach the webhook (their shared flags). */
export interface SendFlags {
  cluster: string;
  url: string;
  batch: number;
  token?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

/** Sends events with the options it is given, adding to `summary` (files for `replay`, the story for `demo`). */
export type Sender = (options: Omit<ReplayOptions, 'files'>, summary: ReplaySummary) => Promise<ReplaySummary>;

export interface Sent {
  /** The cluster the batch URL names (the path of `--url` may name another than `--cluster`). */
  cluster: string;
  summary: ReplaySummary;
  /** Why sending stopped before the end: the webhook could not be reached. */
  stopped?: string;
}

/** Sends with `sender` to the batch URL of `flags`; an unreachable webhook stops it, and is named in `stopped`. */
export async function sendEvents(sender: Sender, flags: SendFlags, progress: (line: string) => void): Promise<Sent> {
  const url = batchUrl(flags.url, flags.cluster);
  const path = new URL(url).pathname;
  const cluster = decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
  const summary = emptySummary();
  const options = {
    url,
    batch: flags.batch,
    ...(flags.token ? { token: flags.token } : {}),
    ...(flags.ca ? { ca: flags.ca } : {}),
    ...(flags.cert ? { cert: flags.cert } : {}),
    ...(flags.key ? { key: flags.key } : {}),
    progress,
  };
  try {
    await sender(options, summary);
  } catch (err) {
    if (!(err instanceof WebhookUnreachableError)) throw err;
    return { cluster, summary, stopped: err.message };
  }
  return { cluster, summary };
}

/**
 * Waits up to `timeoutS` for the accepted writes `ids` of `cluster` to be searchable (Elasticsearch
 * at CRTRAIL_ES_URL). Returns how many are.
 */
export async function awaitRecords(
  cluster: string,
  ids: Set<string>,
  timeoutS: number,
  progress: (line: string) => void,
): Promise<number> {
  const env = loadEnv();
  const es = createEsClient(esConnectionFromEnv(env));
  try {
    return await waitForRecords(
      es,
      indexNames(env.CRTRAIL_INDEX_PREFIX).alias,
      cluster,
      ids,
      timeoutS * 1000,
      progress,
    ).catch((err: Error) => {
      throw new CliError(
        `cannot read the records from Elasticsearch at ${shownEsUrl(env.CRTRAIL_ES_URL)} (CRTRAIL_ES_URL): ${err.message}`,
        undefined,
        { cause: err },
      );
    });
  } finally {
    await es.close();
  }
}
