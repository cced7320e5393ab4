import { createPublicKey } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { generateSigningKeys, keyId } from '@crtrail/integrity';
import { CliError } from '../errors.js';

/**
 * `crtrail keygen`: an Ed25519 key pair, the private key at `out` (mode 0600), the public key at
 * `out.pub`. Returns where they went and the key id manifests will name.
 */
export function writeSigningKeys(out: string, force = false): { privateKey: string; publicKey: string; keyId: string } {
  const pub = `${out}.pub`;
  // Overwriting a signing key silently would orphan every manifest signed with it.
  for (const f of [out, pub])
    if (existsSync(f) && !force) throw new CliError(`${f} exists (pass --force to overwrite)`);
  const keys = generateSigningKeys();
  writeFileSync(out, keys.privateKey, { mode: 0o600 });
  writeFileSync(pub, keys.publicKey, { mode: 0o644 });
  return { privateKey: out, publicKey: pub, keyId: keyId(createPublicKey(keys.publicKey)) };
}
