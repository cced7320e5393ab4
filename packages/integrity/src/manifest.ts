import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { canonicalJson } from '@crtrail/audit';
import type { Integrity } from './chain.js';
import type { SeqRange } from './verify.js';
import type { Derivation } from './derived.js';

/**
 * Where the manifest of an export is written, and where `verify` looks for it unless told:
 * next to the file, so the two travel together.
 *
 * @param file - the export file (NDJSON or CSV)
 * @returns `FILE.manifest.json`
 */
export const manifestPathOf = (file: string): string => `${file}.manifest.json`;

export interface ManifestCluster {
  count: number;
  first: Integrity;
  last: Integrity;
  /** Seq ranges between first and last that the filter left out: any other gap is a deleted line. */
  gaps: SeqRange[];
}

export interface ManifestSignature {
  algorithm: 'Ed25519';
  /** sha256 of the public key (DER, SPKI): which key signed, to compare with the one you trust. */
  key_id: string;
  public_key: string;
  /** base64 signature over the RFC 8785 canonical JSON of the manifest without `signature`. */
  value: string;
}

export interface Manifest {
  crtrail_export: number;
  created_at: string;
  format: 'ndjson' | 'csv';
  file: { name: string; sha256: string; bytes: number };
  count: number;
  /** Absolute when given as `now±N{s,m,h,d,w}`; `requested` keeps what the user typed. */
  range: { since: string; until: string; requested?: { since: string; until: string } };
  filters: Record<string, string>;
  /** Sort order of the file: what makes the chain checkable line by line. */
  order: string;
  chained_fields: string;
  clusters: Record<string, ManifestCluster>;
  /**
   * The configurations (their derived-field parts) the exported records were written with, by the
   * digest they chain (`crtrail.config_digest`): those the exporter had, so `verify` recomputes
   * derived fields without being given them. Trusted only where the content hashes to its digest.
   */
  configurations?: Record<string, Derivation>;
  signature?: ManifestSignature;
}

/**
 * The per-cluster part of a manifest, counted while an export streams its records in export order
 * (cluster, then seq ascending): how many records, the first and last links, and the seq ranges
 * between them that are absent from the file. The export's filter is what left those out, and
 * listing them is what lets `verify` tell them from a deleted line.
 */
export class SeqTally {
  private readonly byCluster = new Map<
    string,
    { count: number; first?: Integrity; last?: Integrity; gaps: SeqRange[] }
  >();

  /**
   * Counts one exported record.
   *
   * @param cluster - the record's cluster
   * @param link - its `crtrail.integrity`; a record without one is counted but links nothing
   */
  add(cluster: string, link: Integrity | undefined): void {
    let t = this.byCluster.get(cluster);
    if (!t) this.byCluster.set(cluster, (t = { count: 0, gaps: [] }));
    t.count++;
    if (!link) return;
    t.first ??= link;
    if (t.last && link.seq > t.last.seq + 1) t.gaps.push([t.last.seq + 1, link.seq - 1]);
    t.last = link;
  }

  /**
   * The manifest's `clusters`: by name in code-unit order (a stable manifest for the same records),
   * leaving out clusters of which no record carried a link (nothing to anchor a check to).
   */
  clusters(): Record<string, ManifestCluster> {
    const out: Record<string, ManifestCluster> = {};
    for (const [name, t] of [...this.byCluster].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (t.first && t.last) out[name] = { count: t.count, first: t.first, last: t.last, gaps: t.gaps };
    }
    return out;
  }
}

/** The bytes a signature covers: everything but the signature, canonical so key order does not matter. */
function signedBytes(manifest: Manifest): Buffer {
  const { signature: _signature, ...rest } = manifest;
  return Buffer.from(canonicalJson(rest) ?? '');
}

export function keyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** Signs with an Ed25519 private key (PEM); throws a clear error for any other key. */
export function signManifest(manifest: Manifest, privateKeyPem: string | Buffer): Manifest {
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(
      `signing key is ${key.asymmetricKeyType ?? 'not asymmetric'}, not Ed25519 (make one with: crtrail keygen --out FILE)`,
    );
  const publicKey = createPublicKey(key);
  const unsigned: Manifest = { ...manifest };
  delete unsigned.signature;
  return {
    ...unsigned,
    signature: {
      algorithm: 'Ed25519',
      key_id: keyId(publicKey),
      public_key: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      value: sign(null, signedBytes(unsigned), key).toString('base64'),
    },
  };
}

export type SignatureCheck = { ok: true; keyId: string; pinned: boolean } | { ok: false; reason: string };

/**
 * Checks the manifest's signature. With `trustedPublicKeyPem` the signature must be by that key
 * (`pinned`); without it, only by the key the manifest names — which proves the manifest was not
 * changed after signing, not who signed it.
 */
export function checkSignature(manifest: Manifest, trustedPublicKeyPem?: string | Buffer): SignatureCheck {
  const sig = manifest.signature;
  if (!sig) return { ok: false, reason: 'the manifest is not signed' };
  if (sig.algorithm !== 'Ed25519') return { ok: false, reason: `unknown signature algorithm ${String(sig.algorithm)}` };
  let key: KeyObject;
  try {
    key = createPublicKey(trustedPublicKeyPem ?? sig.public_key);
  } catch (err) {
    return { ok: false, reason: `cannot read the public key: ${(err as Error).message}` };
  }
  const id = keyId(key);
  if (trustedPublicKeyPem && id !== sig.key_id)
    return {
      ok: false,
      reason: `signed by key ${sig.key_id.slice(0, 16)}…, not by the trusted key ${id.slice(0, 16)}…`,
    };
  const valid = verify(null, signedBytes(manifest), key, Buffer.from(sig.value, 'base64'));
  return valid
    ? { ok: true, keyId: id, pinned: Boolean(trustedPublicKeyPem) }
    : { ok: false, reason: 'bad signature: the manifest was changed after signing' };
}

/** A fresh Ed25519 key pair, PEM (PKCS#8 private, SPKI public). */
export function generateSigningKeys(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
