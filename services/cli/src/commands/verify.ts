import type { Command } from 'commander';
import { failedAsReported, nothingChecked } from '../errors.js';

interface VerifyFlags {
  manifest?: string;
  publicKey?: string;
  cluster?: string;
  since?: string;
  config?: string[];
  json?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'check an export against its manifest, or the hash chain stored in Elasticsearch, recomputing every derived field; exit 0 only if intact and not empty, 1 if broken, 2 if nothing could be checked',
    )
    .argument('[file]', 'an export written by crtrail export')
    .option('--manifest <file>', 'manifest (default FILE.manifest.json)')
    .option('--public-key <file>', 'trusted Ed25519 public key (PEM); the manifest must be signed by it')
    .option('--cluster <name>', 'walk the stored chain of this cluster instead of a file')
    .option('--since <time>', 'with --cluster: start at the first record since this time')
    .option(
      '--config <file>',
      'configuration the records were written with, to recompute their derived fields (repeat for several; default CRTRAIL_CONFIG or the built-in one)',
      (v: string, all: string[] = []) => [...all, v],
    )
    .option('--json', 'print the report as JSON')
    .action(async (file: string | undefined, opts: VerifyFlags) => {
      // Wrong arguments leave nothing checked (2), as distinct from a broken chain (1).
      const target: { file: string } | { cluster: string } | undefined = file
        ? { file }
        : opts.cluster
          ? { cluster: opts.cluster }
          : undefined;
      if (!target) throw nothingChecked('give a FILE to check an export, or --cluster NAME to check the stored chain');
      if (file && opts.cluster) throw nothingChecked('give either a FILE or --cluster, not both');
      if (opts.since && !opts.cluster) throw nothingChecked('--since goes with --cluster (an export is checked whole)');
      if (opts.publicKey && !file) throw nothingChecked("--public-key checks an export's signature: give the FILE");
      const [{ verifyStoredChain }, { verifyExport }, { verifyConfigs }, { printVerifyReport }] = await Promise.all([
        import('../ops/verify-chain.js'),
        import('../ops/verify-export.js'),
        import('../ops/verify-inputs.js'),
        import('../print/verify-report.js'),
      ]);
      const configs = verifyConfigs(opts.config ?? []);
      const report =
        'file' in target
          ? await verifyExport(target.file, {
              ...(opts.manifest ? { manifest: opts.manifest } : {}),
              ...(opts.publicKey ? { publicKey: opts.publicKey } : {}),
              configs,
            })
          : await verifyStoredChain(target.cluster, opts.since, { configs });
      if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else printVerifyReport(report, file ?? `cluster ${opts.cluster}`);
      if (!report.ok) throw failedAsReported(`BROKEN: ${report.problems[0]}`);
    });
}
