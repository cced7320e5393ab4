import type { Command } from 'commander';

/** The record filters `changes` and `export` share (see `RecordFilters` in @crtrail/store). */
export function addRecordFilterOptions(command: Command): Command {
  return command
    .option('--cluster <name>')
    .option('--group <group>', 'API group, e.g. argoproj.io')
    .option('--resource <resource>', 'plural resource, e.g. applications')
    .option('--namespace <ns>')
    .option('--name <name>')
    .option('--actor <user>', 'effective actor or authenticated username');
}
