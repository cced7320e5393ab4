import { Command, InvalidArgumentError, Option } from 'commander';
import { up } from './up.js';
import { replay } from './replay.js';
import { registerChanges } from './commands/changes.js';
import { registerDlq } from './commands/dlq.js';
import { registerBaseline } from './commands/baseline.js';
import { registerConfig } from './commands/config.js';
import { registerExport } from './commands/export.js';
import { registerVerify } from './commands/verify.js';
import { registerKeygen } from './commands/keygen.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function defaultWebhookUrl(): string {
  const host = process.env.CRTRAIL_HOST || '127.0.0.1';
  const port = process.env.CRTRAIL_PORT || '8080';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('crtrail')
    .description('Field-level audit trail of Kubernetes custom-resource changes')
    .showHelpAfterError();

  program
    .command('up')
    .description('start Redis (if absent), Elasticsearch (if absent), the webhook and a worker; Ctrl-C stops them')
    .option('--webhook-only', 'run only the webhook')
    .option('--worker-only', 'run only the worker(s)')
    .option('--workers <n>', 'number of workers (processes of their own)', positiveInt, 1)
    // Set by `up` on the worker processes it starts: their parent prints the summary.
    .addOption(new Option('--supervised').hideHelp())
    .action(async (opts: { webhookOnly?: boolean; workerOnly?: boolean; workers: number; supervised?: boolean }) => {
      await up(opts);
    });

  program
    .command('replay')
    .description('send audit events from files (NDJSON, EventList, JSON array, .gz) through the webhook as an apiserver would')
    .argument('<files...>', 'event files, - for stdin')
    .option('--cluster <name>', 'cluster name the events come from', process.env.CRTRAIL_CLUSTER || 'default')
    .option('--url <url>', 'webhook base URL', defaultWebhookUrl())
    .option('--batch <n>', 'events per EventList POST', positiveInt, 400)
    .option('--token <token>', 'bearer token, when the webhook has CRTRAIL_AUTH_TOKENS_FILE (default: CRTRAIL_REPLAY_TOKEN)', process.env.CRTRAIL_REPLAY_TOKEN)
    .option('--ca <file>', "PEM CA that signed the webhook's certificate (https URLs)")
    .option('--cert <file>', 'PEM client certificate, when the webhook has CRTRAIL_TLS_CLIENT_CA')
    .option('--key <file>', 'PEM key of --cert')
    .action(async (files: string[], opts: { cluster: string; url: string; batch: number; token?: string; ca?: string; cert?: string; key?: string }) => {
      const tty = process.stderr.isTTY;
      const summary = await replay({
        files,
        url: `${opts.url.replace(/\/+$/, '')}/audit/${encodeURIComponent(opts.cluster)}`,
        batch: opts.batch,
        ...(opts.token ? { token: opts.token } : {}),
        ...(opts.ca ? { ca: opts.ca } : {}),
        ...(opts.cert ? { cert: opts.cert } : {}),
        ...(opts.key ? { key: opts.key } : {}),
        progress: (line) => process.stderr.write(tty ? `\r${line}` : `${line}\n`),
      });
      if (tty) process.stderr.write('\n');
      const parts = [
        `sent ${summary.sent}`,
        `accepted ${summary.accepted}`,
        `rejected ${summary.rejected}`,
        `skipped v1beta1 ${summary.skippedV1beta1}`,
      ];
      if (summary.invalidLines) parts.push(`unparseable lines ${summary.invalidLines}`);
      process.stdout.write(`${parts.join(', ')}\n`);
      for (const r of summary.rejections) process.stderr.write(`rejected: ${r}\n`);
      if (summary.rejected > 0 || summary.invalidLines > 0) process.exitCode = 1;
    });

  registerChanges(program);
  registerDlq(program);
  registerBaseline(program);
  registerConfig(program);
  registerExport(program);
  registerVerify(program);
  registerKeygen(program);

  await program.parseAsync(argv);
}
