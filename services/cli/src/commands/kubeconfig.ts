import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadEnv } from '@crtrail/config';
import { loadWebhookAuth } from '@crtrail/webhook';
import { kubeconfigFor } from '../up.js';

/** `crtrail kubeconfig`: the `--audit-webhook-config-file` for an apiserver, for a webhook that runs elsewhere. */
export function registerKubeconfig(program: Command): void {
  program
    .command('kubeconfig')
    .description("write the kube-apiserver --audit-webhook-config-file for the webhook (auth as this environment's CRTRAIL_TLS_*/CRTRAIL_AUTH_TOKENS_FILE configure it)")
    .option('--server <url>', 'the webhook as the apiserver reaches it, e.g. https://crtrail.example.internal:8443 (default: CRTRAIL_PUBLIC_URL)')
    .option('--cluster <name>', 'the cluster this apiserver belongs to (default: CRTRAIL_CLUSTER)')
    .option('--out <file>', 'write to FILE instead of standard output')
    .action((opts: { server?: string; cluster?: string; out?: string }) => {
      const env = loadEnv();
      const server = opts.server ?? env.CRTRAIL_PUBLIC_URL;
      if (!server) throw new Error('--server is required (or set CRTRAIL_PUBLIC_URL): the address kube-apiserver uses to reach the webhook');
      let url: URL;
      try {
        url = new URL(server);
      } catch {
        throw new Error(`--server ${JSON.stringify(server)} is not a URL (e.g. https://crtrail.example.internal:8443)`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--server ${server}: use http:// or https://`);
      if (env.CRTRAIL_TLS_CERT && url.protocol !== 'https:') throw new Error(`--server ${server}: the webhook serves HTTPS (CRTRAIL_TLS_CERT is set): use https://`);
      const base = url.toString().replace(/\/+$/, '').replace(/\/audit(\/[^/]*)?$/, '');
      const text = kubeconfigFor(env, base, loadWebhookAuth(env), opts.cluster ?? env.CRTRAIL_CLUSTER);
      if (opts.out) {
        writeFileSync(opts.out, text, { mode: 0o600 });
        process.stderr.write(`wrote ${opts.out}: pass it to kube-apiserver as --audit-webhook-config-file\n`);
      } else {
        process.stdout.write(text);
      }
    });
}
