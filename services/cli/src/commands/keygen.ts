import type { Command } from 'commander';
import { writeSigningKeys } from '../ops/keygen.js';

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description(
      'write an Ed25519 private key to FILE and its public key to FILE.pub (PEM), for signing export manifests',
    )
    .requiredOption('--out <file>', 'private key file (mode 0600); the public key goes to FILE.pub')
    .option('--force', 'overwrite existing files')
    .action((opts: { out: string; force?: boolean }) => {
      const keys = writeSigningKeys(opts.out, opts.force);
      process.stdout.write(
        `private key ${keys.privateKey}\npublic key  ${keys.publicKey}\nkey id      ${keys.keyId}\nsign exports with: CRTRAIL_SIGNING_KEY=${opts.out} crtrail export ...\n`,
      );
    });
}
