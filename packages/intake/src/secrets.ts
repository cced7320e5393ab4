import { createHash, timingSafeEqual } from 'node:crypto';

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * A set of shared secrets (Firehose access keys, Pub/Sub push tokens) checked in constant time,
 * as the webhook's token table does: the presented value's digest is compared with every entry's
 * (same length whatever the secret's, no early return), so neither which entry matched nor how
 * long a common prefix is shows in the response time.
 */
export class SecretSet {
  private readonly digests: readonly Buffer[];

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('at least one secret is required');
    if (secrets.some((s) => s.length === 0)) throw new Error('a secret must not be empty');
    this.digests = secrets.map(sha256);
  }

  /** `true` when `presented` is one of the secrets. */
  has(presented: string): boolean {
    const digest = sha256(presented);
    let found = false;
    for (const d of this.digests) found = timingSafeEqual(digest, d) || found;
    return found;
  }
}
