import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { up } from './ops/up.js';
import { replayCommand, type ReplayFlags } from './commands/replay.js';
import { registerChanges } from './commands/changes.js';
import { registerDlq } from './commands/dlq.js';
import { registerBaseline } from './commands/baseline.js';
import { registerConfig } from './commands/config.js';
import { registerExport } from './commands/export.js';
import { registerVerify } from './commands/verify.js';
import { registerKeygen } from './commands/keygen.js';
import { registerKubeconfig } from './commands/kubeconfig.js';
import { registerDemo } from './commands/demo.js';
import { registerStatus } from './commands/status.js';
import { registerKibana } from './commands/kibana.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** The version of the installed crtrail (the root package.json). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function defaultWebhookUrl(): string {
  const host = process.env.CRTRAIL_HOST || '127.0.0.1';
  const port = process.env.CRTRAIL_PORT || '8080';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('crtrail')
    .description('Field-level audit trail of Kubernetes custom-resource changes')
    .version(version(), '-V, --version', 'print the version')
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
    .option('--cluster <name>', 'cluster name the events come from (default: CRTRAIL_CLUSTER, else "default")', process.env.CRTRAIL_CLUSTER || 'default')
    .option('--url <url>', 'webhook URL: its base, or .../audit, or .../audit/<cluster> as in the kubeconfig (default: from CRTRAIL_HOST/CRTRAIL_PORT)', defaultWebhookUrl())
    .option('--batch <n>', 'events per EventList POST', positiveInt, 400)
    .option('--token <token>', 'bearer token, when the webhook has CRTRAIL_AUTH_TOKENS_FILE (default: CRTRAIL_REPLAY_TOKEN)', process.env.CRTRAIL_REPLAY_TOKEN)
    .option('--ca <file>', "PEM CA that signed the webhook's certificate (https URLs)")
    .option('--cert <file>', 'PEM client certificate, when the webhook has CRTRAIL_TLS_CLIENT_CA')
    .option('--key <file>', 'PEM key of --cert')
    .option('--wait [seconds]', 'then wait until the custom-resource writes are searchable (default 60 s; Elasticsearch at CRTRAIL_ES_URL)', positiveInt)
    .action(async (files: string[], opts: ReplayFlags) => {
      await replayCommand(files, opts);
    });

  registerChanges(program);
  registerDlq(program);
  registerBaseline(program);
  registerConfig(program);
  registerExport(program);
  registerVerify(program);
  registerKeygen(program);
  registerKubeconfig(program);
  registerDemo(program, defaultWebhookUrl());
  registerStatus(program);
  registerKibana(program);

  await program.parseAsync(argv);
}
