import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadEnv } from '@crtrail/config';
import { apiserverKubeconfig } from '../ops/kubeconfig.js';

/** `crtrail kubeconfig`: the `--audit-webhook-config-file` for an apiserver, for a webhook that runs elsewhere. */
export function registerKubeconfig(program: Command): void {
  program
    .command('kubeconfig')
    .description(
      "write the kube-apiserver --audit-webhook-config-file for the webhook (auth as this environment's CRTRAIL_TLS_*/CRTRAIL_AUTH_TOKENS_FILE configure it)",
    )
    .option(
      '--server <url>',
      'the webhook as the apiserver reaches it, e.g. https://crtrail.example.internal:8443 (default: CRTRAIL_PUBLIC_URL)',
    )
    .option('--cluster <name>', 'the cluster this apiserver belongs to (default: CRTRAIL_CLUSTER)')
    .option('--out <file>', 'write to FILE instead of standard output')
    .action((opts: { server?: string; cluster?: string; out?: string }) => {
      const env = loadEnv();
      const text = apiserverKubeconfig(env, opts.server ?? env.CRTRAIL_PUBLIC_URL, opts.cluster ?? env.CRTRAIL_CLUSTER);
      if (opts.out) {
        writeFileSync(opts.out, text, { mode: 0o600 });
        process.stderr.write(`wrote ${opts.out}: pass it to kube-apiserver as --audit-webhook-config-file\n`);
      } else {
        process.stdout.write(text);
      }
    });
}
