import type { Command } from 'commander';
import { loadEnv } from '@crtrail/config';
import { failedAsReported } from '../errors.js';

export function registerBaseline(program: Command): void {
  program
    .command('baseline')
    .description(
      'import `kubectl get <kinds> -A -o json` output as the current state, so the first audited change has old values',
    )
    .argument('<file>', 'JSON file, - for stdin')
    .requiredOption('--cluster <name>', 'cluster the objects are in')
    .option(
      '--resource <Kind=plural...>',
      'plural resource of a kind whose plural is not the default (e.g. Endpoints=endpoints)',
    )
    .action(async (file: string, opts: { cluster: string; resource?: string[] }) => {
      const env = loadEnv();
      const plurals = new Map((opts.resource ?? []).map((r) => r.split('=', 2) as [string, string]));
      const { importBaseline } = await import('../ops/baseline.js');
      const r = await importBaseline(env, { file, cluster: opts.cluster, plurals });
      process.stdout.write(
        `imported ${r.imported} object(s) into cluster ${opts.cluster}, skipped ${r.skipped.length}\n`,
      );
      for (const s of r.skipped) process.stderr.write(`skipped ${s.object}: ${s.reason}\n`);
      if (r.skipped.length > 0) throw failedAsReported(`${r.skipped.length} object(s) skipped`);
    });
}
