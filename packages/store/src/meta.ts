import type { Client } from '@elastic/elasticsearch';
import { indexNames } from './names.js';

const SALT_DOC = 'redaction-salt';

/** What is kept of the redaction salt: a fingerprint (an HMAC keyed by the salt), never the salt. */
export interface SaltFingerprintDoc {
  fingerprint: string;
  recorded_at: string;
}

/** The fingerprint of the salt existing records were hashed with, or undefined before the first one. */
export async function readSaltFingerprint(es: Client, prefix: string): Promise<SaltFingerprintDoc | undefined> {
  const res = await es.get<SaltFingerprintDoc>({ index: indexNames(prefix).meta, id: SALT_DOC }, { ignore: [404] });
  return res.found ? res._source : undefined;
}

/**
 * Records the fingerprint if none is recorded yet (`create`: of several workers starting at once,
 * one wins) and returns the one that is recorded now — the caller compares it with its own.
 */
export async function recordSaltFingerprint(
  es: Client,
  prefix: string,
  fingerprint: string,
): Promise<SaltFingerprintDoc> {
  const doc: SaltFingerprintDoc = { fingerprint, recorded_at: new Date().toISOString() };
  const res = await es.create(
    { index: indexNames(prefix).meta, id: SALT_DOC, document: doc, refresh: 'wait_for' },
    { ignore: [409] },
  );
  if ((res as { result?: string }).result === 'created') return doc;
  const existing = await readSaltFingerprint(es, prefix);
  if (!existing) throw new Error(`${indexNames(prefix).meta}: the salt fingerprint could neither be created nor read`);
  return existing;
}
