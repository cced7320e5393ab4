import { InvalidArgumentError, type Command } from 'commander';

/** `--since`/`--until`: an ISO time or Elasticsearch date math, checked before anything is asked of Elasticsearch. */
export function timeArg(value: string): string {
  if (!/^now([+-]\d+[smhdwMy])*(\/[smhdwMy])?$/.test(value) && Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError('expected an ISO time (2026-01-31T00:00:00Z) or date math (now-1d, now-2h)');
  }
  return value;
}

const VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection'];

function verbArg(value: string): string {
  if (!VERBS.includes(value)) throw new InvalidArgumentError(`expected one of ${VERBS.join(', ')}`);
  return value;
}

/** The record filters `changes` and `export` share (see `RecordFilters` in @crtrail/store). */
export function addRecordFilterOptions(command: Command): Command {
  return command
    .option('--cluster <name>', 'cluster name (orchestrator.cluster.name)')
    .option('--group <group>', 'API group, e.g. argoproj.io')
    .option('--resource <resource>', 'plural resource, e.g. applications')
    .option('--kind <kind>', 'object kind, e.g. Application (case-insensitive)')
    .option('--namespace <ns>', 'namespace')
    .option('--name <name>', 'object name, or its beginning (web finds web and web-2)')
    .option(
      '--actor <user>',
      'effective actor or authenticated username, or its beginning (alice finds alice@example.com)',
    )
    .option(
      '--path <path>',
      'a changed field, dot path (spec.replicas) or JSON pointer (/spec/replicas); the field or anything under it',
    )
    .option('--verb <verb>', `request verb: ${VERBS.join(', ')}`, verbArg)
    .option('--critical', 'only changes touching critical fields')
    .option('--drift', 'only changes of GitOps-managed objects by someone other than their GitOps manager')
    .option('--failed', 'only failed attempts (denied, conflicting, invalid)');
}
