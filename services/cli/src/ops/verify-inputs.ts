import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { checkConfigFile, loadConfig, loadEnv, type CrtrailConfig, type Env } from '@crtrail/config';
import type { Manifest } from '@crtrail/integrity';
import { nothingChecked } from '../errors.js';

// What `verify` reads before it checks anything: any of it missing or wrong means nothing could be
// checked (exit 2), never "broken".

/** A bad environment is a usage problem (exit 2) too. */
export function verifyEnv(): Env {
  try {
    return loadEnv();
  } catch (err) {
    throw nothingChecked((err as Error).message);
  }
}

/**
 * The configurations derived fields are recomputed with: the `--config` files given, else
 * CRTRAIL_CONFIG (the built-in defaults when it is unset), as the worker reads it.
 */
export function verifyConfigs(
  files: readonly string[] = [],
  fromEnv: string | undefined = process.env.CRTRAIL_CONFIG,
): CrtrailConfig[] {
  if (files.length === 0) {
    try {
      return [loadConfig(fromEnv || undefined)];
    } catch (err) {
      throw nothingChecked((err as Error).message);
    }
  }
  return files.map((f) => {
    const checked = checkConfigFile(f);
    if (!checked.ok) throw nothingChecked(`invalid --config ${f}:\n  ${checked.errors.join('\n  ')}`);
    return checked.config;
  });
}

/** The trusted public key: a private key, or anything but an Ed25519 public key, is an error (exit 2). */
export function readTrustedKey(path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw nothingChecked(`cannot read public key ${path}: ${(err as Error).message}`);
  }
  // createPublicKey accepts a private key too (and derives its public half): refuse it first, so
  // the auditor learns the private key went where it should not.
  let isPrivate = /PRIVATE KEY-----/.test(pem.toString('utf8'));
  if (!isPrivate) {
    try {
      createPrivateKey(pem);
      isPrivate = true;
    } catch {
      // Not a private key: good.
    }
  }
  if (isPrivate)
    throw nothingChecked(
      `--public-key ${path}: this is a private key; pass the .pub file (made by crtrail keygen next to it)`,
    );
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519')
      throw new Error(`a ${key.asymmetricKeyType ?? 'non-asymmetric'} key, not Ed25519`);
  } catch (err) {
    throw nothingChecked(`--public-key ${path}: not an Ed25519 public key (PEM): ${(err as Error).message}`);
  }
  return pem;
}

/** The export's manifest: one that is not JSON, or not a crtrail manifest, leaves nothing to check against (exit 2). */
export function readManifest(path: string): Manifest {
  if (!existsSync(path)) throw nothingChecked(`no manifest at ${path} (pass --manifest)`);
  let manifest: Partial<Manifest>;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8')) as Partial<Manifest>;
  } catch (err) {
    throw nothingChecked(`manifest ${path} is not JSON: ${(err as Error).message}`);
  }
  // An empty or foreign manifest proves nothing: nothing to check against (2), never "intact".
  const missing = [
    typeof manifest?.crtrail_export !== 'number' && 'crtrail_export',
    typeof manifest?.count !== 'number' && 'count',
    typeof manifest?.file?.sha256 !== 'string' && 'file.sha256',
    (typeof manifest?.clusters !== 'object' || manifest.clusters === null) && 'clusters',
  ].filter(Boolean);
  if (missing.length > 0)
    throw nothingChecked(`manifest ${path} is not a crtrail export manifest (no ${missing.join(', ')})`);
  return manifest as Manifest;
}
