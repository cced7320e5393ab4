import { InvalidArgumentError, type Command } from 'commander';
import type { RecordFilters } from '@crtrail/store';
import { CliError } from '../errors.js';
import { addRecordFilterOptions, timeArg } from './filter-options.js';

function limitArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive number of records');
  return n;
}

type ChangesOptions = RecordFilters & {
  limit: number;
  all?: boolean;
  json?: boolean;
  format: 'text' | 'json';
  wide?: boolean;
  timeline?: boolean;
};

export function registerChanges(program: Command): void {
  addRecordFilterOptions(
    program
      .command('changes')
      .description(
        'print the change history from Elasticsearch: a line per write (newest first), an indented line per changed field',
      ),
  )
    .option('--since <time>', 'ISO time or date math (now-1h), inclusive', timeArg)
    .option('--until <time>', 'ISO time or date math (now), exclusive', timeArg)
    .option('--timeline', "one object's history, oldest first (with --name, and --namespace/--resource to pin it)")
    .option('--limit <n>', 'records to show', limitArg, 100)
    .option('--all', 'every matching record (no --limit)')
    .option('--wide', 'values in full (default: cut at 80 characters, hashes shortened)')
    .option(
      '--format <format>',
      'text (for people) or json (one JSON record per line, with its _id), as `export --format`',
      (v) => {
        if (v !== 'text' && v !== 'json') throw new InvalidArgumentError('expected text or json');
        return v;
      },
      'text',
    )
    .option('--json', 'the same as --format json')
    .action(async (opts: ChangesOptions) => {
      const [{ listChanges }, { pickFilters }, { formatChange }] = await Promise.all([
        import('../ops/changes.js'),
        import('../ops/record-filters.js'),
        import('../print/change-lines.js'),
      ]);
      const asJson = opts.json === true || opts.format === 'json';
      if (opts.timeline && !opts.name) throw new CliError('--timeline needs --name (the object whose history to show)');
      const filters = {
        ...pickFilters(opts),
        ...(opts.since ? { since: opts.since } : {}),
        ...(opts.until ? { until: opts.until } : {}),
      };
      const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
      const result = await listChanges(
        filters,
        opts.timeline ? 'asc' : 'desc',
        opts.all ? Number.MAX_SAFE_INTEGER : opts.limit,
        (doc, id) => {
          if (asJson) process.stdout.write(`${JSON.stringify({ _id: id, ...doc })}\n`);
          else
            for (const line of formatChange(doc, { colour, wide: opts.wide, ...(id ? { id } : {}) }))
              process.stdout.write(`${line}\n`);
        },
      );
      if (result.noIndex) process.stderr.write('no changes recorded yet\n');
      else if (result.shown === 0) process.stderr.write('no changes match\n');
      else if (result.total > result.shown)
        process.stderr.write(`showing ${result.shown} of ${result.total} records (--limit N or --all for more)\n`);
    });
}
