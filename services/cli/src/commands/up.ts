import { Option, type Command } from 'commander';
import type { UpOptions } from '../ops/up.js';
import { positiveInt } from './arguments.js';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start Redis (if absent), Elasticsearch (if absent), the webhook and a worker; Ctrl-C stops them')
    .option('--webhook-only', 'run only the webhook')
    .option('--worker-only', 'run only the worker(s)')
    .option('--workers <n>', 'number of workers (processes of their own)', positiveInt, 1)
    // Set by `up` on the worker processes it starts: their parent prints the summary.
    .addOption(new Option('--supervised').hideHelp())
    .action(async (opts: UpOptions & { workers: number }) => {
      // Loaded here, not at start: see main.ts.
      const { up } = await import('../ops/up.js');
      await up(opts);
    });
}
