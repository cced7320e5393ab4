import type { Command } from 'commander';
import { sendAndReport, type ReplayFlags } from './replay.js';

/** `crtrail demo`: a realistic story of the last hour sent through the webhook, so every README example shows something. */
export function registerDemo(program: Command, defaultUrl: string): void {
  program
    .command('demo')
    .description(
      'send a short story of the last hour (a GitOps drift on a critical field, a denied attempt, a delete) through the webhook, then wait for its records',
    )
    .option('--cluster <name>', 'cluster name to file the story under', 'demo')
    .option('--url <url>', 'webhook URL (default: from CRTRAIL_HOST/CRTRAIL_PORT)', defaultUrl)
    .option(
      '--token <token>',
      'bearer token, when the webhook has CRTRAIL_AUTH_TOKENS_FILE (default: CRTRAIL_REPLAY_TOKEN)',
      process.env.CRTRAIL_REPLAY_TOKEN,
    )
    .option('--ca <file>', "PEM CA that signed the webhook's certificate (https URLs)")
    .option('--cert <file>', 'PEM client certificate, when the webhook has CRTRAIL_TLS_CLIENT_CA')
    .option('--key <file>', 'PEM key of --cert')
    .option('--no-wait', 'do not wait for the records to be searchable')
    .action(async (opts: Omit<ReplayFlags, 'batch' | 'wait'> & { wait: boolean }) => {
      const { wait, ...rest } = opts;
      const flags: ReplayFlags = { ...rest, batch: 400, ...(wait ? { wait: true as const } : {}) };
      const [{ demoStory }, { replayEvents }] = await Promise.all([
        import('../demo-story.js'),
        import('../ops/replay.js'),
      ]);
      // A demo that did not arrive (whole) has said why and throws: no hints then.
      await sendAndReport(
        (options, summary) =>
          replayEvents(
            demoStory().map((event, i) => ({
              event: event as unknown as Record<string, unknown>,
              where: `demo event ${i + 1}`,
            })),
            options,
            summary,
          ),
        flags,
      );
      process.stdout.write(
        [
          'try',
          `  npx crtrail changes --cluster ${opts.cluster} --since now-1h`,
          `  npx crtrail changes --cluster ${opts.cluster} --critical --drift`,
          `  npx crtrail changes --cluster ${opts.cluster} --failed`,
          `  npx crtrail verify --cluster ${opts.cluster}`,
          '',
        ].join('\n'),
      );
    });
}
