import type { Command } from 'commander';
import { failedAsReported } from '../errors.js';
import type { Sender, SendFlags } from '../ops/send-events.js';
import { defaultWebhookUrl, positiveInt } from './arguments.js';

export type ReplayFlags = SendFlags & { wait?: number | true };

const DEFAULT_WAIT_S = 60;

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description(
      'send audit events from files (NDJSON, EventList, JSON array, AKS diagnostic exports, GKE Cloud Audit Logs entries, .gz) through the webhook as an apiserver would',
    )
    .argument('<files...>', 'event files, - for stdin')
    .option(
      '--cluster <name>',
      'cluster name the events come from, whatever an AKS or GKE export names (default: CRTRAIL_CLUSTER, else "default")',
      process.env.CRTRAIL_CLUSTER || 'default',
    )
    .option(
      '--url <url>',
      'webhook URL: its base, or .../audit, or .../audit/<cluster> as in the kubeconfig (default: from CRTRAIL_HOST/CRTRAIL_PORT)',
      defaultWebhookUrl(),
    )
    .option('--batch <n>', 'events per EventList POST', positiveInt, 400)
    .option(
      '--token <token>',
      'bearer token, when the webhook has CRTRAIL_AUTH_TOKENS_FILE (default: CRTRAIL_REPLAY_TOKEN)',
      process.env.CRTRAIL_REPLAY_TOKEN,
    )
    .option('--ca <file>', "PEM CA that signed the webhook's certificate (https URLs)")
    .option('--cert <file>', 'PEM client certificate, when the webhook has CRTRAIL_TLS_CLIENT_CA')
    .option('--key <file>', 'PEM key of --cert')
    .option(
      '--wait [seconds]',
      'then wait until the custom-resource writes are searchable (default 60 s; Elasticsearch at CRTRAIL_ES_URL)',
      positiveInt,
    )
    .action(async (files: string[], opts: ReplayFlags) => {
      const { replay } = await import('../ops/replay.js');
      await sendAndReport((options, summary) => replay({ ...options, files }, summary), opts);
    });
}

/**
 * Sends with `sender`, prints the summary (and the bad lines), then waits for the records with
 * `--wait`; exit 1 if anything was not taken or is not searchable in time.
 */
export async function sendAndReport(sender: Sender, flags: ReplayFlags): Promise<void> {
  const [{ awaitRecords, sendEvents }, { printReplaySummary, progressLine }] = await Promise.all([
    import('../ops/send-events.js'),
    import('../print/replay-summary.js'),
  ]);
  const progress = progressLine();
  const { cluster, summary, stopped } = await sendEvents(sender, flags, progress.line);
  progress.end();
  printReplaySummary(summary, stopped);
  if (stopped) throw failedAsReported(stopped);
  const refused = summary.rejected > 0 || summary.invalidLines > 0 || summary.invalidEvents > 0;
  if (flags.wait !== undefined && summary.writeIds.size > 0) {
    const timeoutS = flags.wait === true ? DEFAULT_WAIT_S : flags.wait;
    const found = await awaitRecords(cluster, summary.writeIds, timeoutS, progress.line);
    progress.end();
    if (found < summary.writeIds.size) {
      process.stderr.write(
        `crtrail: only ${found} of ${summary.writeIds.size} custom-resource writes are searchable after ${timeoutS} s: the worker is behind or failing (npx crtrail dlq list)\n`,
      );
      throw failedAsReported('not searchable in time');
    }
    process.stdout.write(
      `searchable: ${found} of ${summary.writeIds.size} custom-resource writes (npx crtrail changes --cluster ${cluster})\n`,
    );
  }
  if (refused) throw failedAsReported('events were rejected or invalid');
}
