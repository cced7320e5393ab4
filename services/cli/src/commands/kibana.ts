import type { Command } from 'commander';
import { loadEnv } from '@crtrail/config';
import { CliError } from '../errors.js';

/** `crtrail kibana setup`: the bundled data view, saved searches and dashboard, imported into a Kibana. */
export function registerKibana(program: Command): void {
  const kibana = program
    .command('kibana')
    .description('Kibana saved objects for the records (data view, Lucene saved searches, dashboard)');
  kibana
    .command('setup')
    .description(
      "import crtrail's data view, saved searches and dashboard through Kibana's saved-objects API (existing ones are updated)",
    )
    .option('--kibana-url <url>', 'Kibana base URL, e.g. http://127.0.0.1:5601 (default: CRTRAIL_KIBANA_URL)')
    .option('--space <id>', 'Kibana space to import into (default: the default space)')
    .action(async (opts: { kibanaUrl?: string; space?: string }) => {
      const env = loadEnv();
      const url = opts.kibanaUrl ?? env.CRTRAIL_KIBANA_URL;
      if (!url)
        throw new CliError(
          '--kibana-url is required (or set CRTRAIL_KIBANA_URL): the Kibana to import the saved objects into',
        );
      const { setupKibana } = await import('../kibana/setup.js');
      const result = await setupKibana(
        {
          url,
          space: opts.space,
          username: env.CRTRAIL_KIBANA_USERNAME,
          password: env.CRTRAIL_KIBANA_PASSWORD,
          apiKey: env.CRTRAIL_KIBANA_API_KEY,
        },
        env.CRTRAIL_INDEX_PREFIX,
      );
      process.stdout.write(
        `Kibana ${result.version}${opts.space ? `, space ${opts.space}` : ''}: ${result.lines.length} saved objects for ${env.CRTRAIL_INDEX_PREFIX}-changes*\n`,
      );
      for (const line of result.lines) process.stdout.write(`  ${line}\n`);
      process.stdout.write(`dashboard  ${result.dashboardUrl}\n`);
    });
}
