import { loadEnv } from '@crtrail/config';
import { createEsClient, esConnectionFromEnv, indexNames, shownEsUrl } from '@crtrail/store';
import { batchUrl, emptySummary, replay, WebhookUnreachableError, type ReplayOptions, type ReplaySummary } from '../replay.js';
import { waitForRecords } from '../wait-records.js';

export interface ReplayFlags {
  cluster: string;
  url: string;
  batch: number;
  token?: string;
  ca?: string;
  cert?: string;
  key?: string;
  wait?: number | true;
}

const DEFAULT_WAIT_S = 60;

/** `crtrail replay`: send, then print `sent / accepted / rejected / …`; exit 1 if anything was not taken. */
export async function replayCommand(files: string[], opts: ReplayFlags): Promise<void> {
  await sendAndReport((options, summary) => replay({ ...options, files }, summary), opts);
}

type Sender = (options: Omit<ReplayOptions, 'files'>, summary: ReplaySummary) => Promise<ReplaySummary>;

/** Sends with `sender`, prints the summary (and the bad lines), then waits for the records with `--wait`. */
export async function sendAndReport(sender: Sender, opts: ReplayFlags): Promise<void> {
  const tty = process.stderr.isTTY;
  const url = batchUrl(opts.url, opts.cluster);
  const cluster = decodeURIComponent(new URL(url).pathname.split('/').pop()!);
  const progress = (line: string): void => void process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  const summary = emptySummary();
  let stopped: string | undefined;
  try {
    await sender(
      {
        url,
        batch: opts.batch,
        ...(opts.token ? { token: opts.token } : {}),
        ...(opts.ca ? { ca: opts.ca } : {}),
        ...(opts.cert ? { cert: opts.cert } : {}),
        ...(opts.key ? { key: opts.key } : {}),
        progress,
      },
      summary,
    );
  } catch (err) {
    if (!(err instanceof WebhookUnreachableError)) throw err;
    stopped = err.message;
  }
  if (tty) process.stderr.write('\n');
  const parts = [
    `sent ${summary.sent}`,
    `accepted ${summary.accepted} (${summary.writes} custom-resource writes queued for records)`,
    `rejected ${summary.rejected}`,
    `skipped v1beta1 ${summary.skippedV1beta1}`,
  ];
  if (summary.invalidEvents) parts.push(`invalid events ${summary.invalidEvents}`);
  if (summary.invalidLines) parts.push(`unparseable lines ${summary.invalidLines}`);
  process.stdout.write(`${parts.join(', ')}\n`);
  const listed = summary.invalid.length;
  for (const line of summary.invalid) process.stderr.write(`invalid: ${line}\n`);
  const unlisted = summary.invalidEvents + summary.invalidLines - listed;
  if (unlisted > 0) process.stderr.write(`invalid: … and ${unlisted} more\n`);
  for (const r of summary.rejections) process.stderr.write(`rejected: ${r}\n`);
  if (stopped) {
    process.stderr.write(`crtrail: ${stopped}\nstopped: ${summary.notSent} events of the current batch and the rest of the files were not sent\n`);
    process.exitCode = 1;
    return;
  }
  if (summary.rejected > 0 || summary.invalidLines > 0 || summary.invalidEvents > 0) process.exitCode = 1;
  if (opts.wait === undefined || summary.writeIds.size === 0) return;
  const env = loadEnv();
  const es = createEsClient(esConnectionFromEnv(env));
  try {
    const timeoutS = opts.wait === true ? DEFAULT_WAIT_S : opts.wait;
    const found = await waitForRecords(es, indexNames(env.CRTRAIL_INDEX_PREFIX).alias, cluster, summary.writeIds, timeoutS * 1000, progress).catch((err: Error) => {
      throw new Error(`cannot read the records from Elasticsearch at ${shownEsUrl(env.CRTRAIL_ES_URL)} (CRTRAIL_ES_URL): ${err.message}`);
    });
    if (tty) process.stderr.write('\n');
    if (found < summary.writeIds.size) {
      process.stderr.write(`crtrail: only ${found} of ${summary.writeIds.size} custom-resource writes are searchable after ${timeoutS} s: the worker is behind or failing (npx crtrail dlq list)\n`);
      process.exitCode = 1;
    } else {
      process.stdout.write(`searchable: ${found} of ${summary.writeIds.size} custom-resource writes (npx crtrail changes --cluster ${cluster})\n`);
    }
  } finally {
    await es.close();
  }
}
