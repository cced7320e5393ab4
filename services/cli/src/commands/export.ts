import { InvalidArgumentError, type Command } from 'commander';
import type { ExportOptions } from '../ops/export.js';
import { addRecordFilterOptions, timeArg } from './filter-options.js';

export function registerExport(program: Command): void {
  addRecordFilterOptions(
    program
      .command('export')
      .description(
        'stream change records to a file (NDJSON or CSV) with a manifest: count, chain links, sha256, Ed25519 signature',
      )
      .requiredOption('--since <time>', 'ISO time or date math (now-7d), inclusive', timeArg)
      .requiredOption('--until <time>', 'ISO time or date math (now), exclusive', timeArg),
  )
    .option(
      '--format <format>',
      'ndjson (verifiable record by record) or csv (one row per changed field)',
      (v) => {
        if (v !== 'ndjson' && v !== 'csv') throw new InvalidArgumentError('expected ndjson or csv');
        return v;
      },
      'ndjson',
    )
    .requiredOption('--out <file>', 'file to write; the manifest goes to FILE.manifest.json')
    .action(async (opts: ExportOptions) => {
      const [{ manifestPathOf }, { runExport }] = await Promise.all([
        import('@crtrail/integrity'),
        import('../ops/export.js'),
      ]);
      const manifest = await runExport(opts, (message) => process.stderr.write(`export: ${message}\n`));
      const signed = manifest.signature
        ? `signed by key ${manifest.signature.key_id.slice(0, 16)}…`
        : 'unsigned (set CRTRAIL_SIGNING_KEY to sign)';
      process.stderr.write(
        `exported ${manifest.count} records to ${opts.out} (sha256 ${manifest.file.sha256.slice(0, 16)}…), manifest ${manifestPathOf(opts.out)}, ${signed}\n`,
      );
    });
}
