import type { Command } from 'commander';
import { stringify } from 'yaml';
import { checkConfigFile, defaultConfig } from '@crtrail/config';
import { failedAsReported } from '../errors.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('configuration file (CRTRAIL_CONFIG)');
  config
    .command('check')
    .description('validate a CRTRAIL_CONFIG file; names each bad key with its line (unknown keys are errors)')
    .argument('<file>')
    .action((file: string) => {
      const r = checkConfigFile(file);
      if (r.ok) {
        const c = r.config;
        process.stdout.write(
          `${file}: ok (${c.actors.tools.length} tool rules, ${c.actors.gitops.length} GitOps managers, ${c.critical.length} critical-field rules, ${c.redaction.paths.length} redaction rules)\n`,
        );
        return;
      }
      for (const e of r.errors) process.stderr.write(`${e}\n`);
      throw failedAsReported(`${file}: invalid`);
    });
  config
    .command('show')
    .description(
      'print the effective configuration as YAML: the built-in defaults merged with FILE (default: CRTRAIL_CONFIG)',
    )
    .argument('[file]')
    .action((file: string | undefined) => {
      const path = file ?? (process.env.CRTRAIL_CONFIG || undefined);
      if (!path) {
        process.stdout.write(`# built-in defaults (no CRTRAIL_CONFIG)\n${stringify(defaultConfig())}`);
        return;
      }
      const r = checkConfigFile(path);
      if (!r.ok) {
        for (const e of r.errors) process.stderr.write(`${e}\n`);
        throw failedAsReported(`${path}: invalid`);
      }
      process.stdout.write(`# built-in defaults merged with ${path}\n${stringify(r.config)}`);
    });
}
