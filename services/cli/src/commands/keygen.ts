import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { generateSigningKeys, keyId } from '@crtrail/integrity';
import { createPublicKey } from 'node:crypto';

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('write an Ed25519 private key to FILE and its public key to FILE.pub (PEM), for signing export manifests')
    .requiredOption('--out <file>', 'private key file (mode 0600); the public key goes to FILE.pub')
    .option('--force', 'overwrite existing files')
    .action((opts: { out: string; force?: boolean }) => {
      const pub = `${opts.out}.pub`;
      // Overwriting a signing key silently would orphan every manifest signed with it.
      for (const f of [opts.out, pub]) if (existsSync(f) && !opts.force) throw new Error(`${f} exists (pass --force to overwrite)`);
      const keys = generateSigningKeys();
      writeFileSync(opts.out, keys.privateKey, { mode: 0o600 });
      writeFileSync(pub, keys.publicKey, { mode: 0o644 });
      const id = keyId(createPublicKey(keys.publicKey));
      process.stdout.write(`private key ${opts.out}\npublic key  ${pub}\nkey id      ${id}\nsign exports with: CRTRAIL_SIGNING_KEY=${opts.out} crtrail export ...\n`);
    });
}
