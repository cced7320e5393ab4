import { createHash, timingSafeEqual } from 'node:crypto';
import { parseSecretLines, readSecretFile } from './secret-lines.js';

interface TokenEntry {
  /** sha256 of the token: every digest has the same length, so comparing them leaks no token length. */
  readonly digest: Buffer;
  readonly cluster: string;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * The bearer tokens of `CRTRAIL_AUTH_TOKENS_FILE`: one `token cluster` per line, blank lines and
 * `#` comment lines ignored. Each token names the one cluster whose apiserver holds it.
 */
export class TokenTable {
  private constructor(private readonly entries: readonly TokenEntry[]) {}

  /**
   * Parses the file's text; `source` (the file name) prefixes every error as `source:line`.
   * A malformed line, an invalid cluster name or a token listed twice throws a {@link ConfigError}.
   */
  static parse(text: string, source: string): TokenTable {
    return new TokenTable(
      parseSecretLines(text, source, 'token').map(({ secret, cluster }) => ({ digest: sha256(secret), cluster })),
    );
  }

  /** Reads and parses a tokens file; an unreadable file is a {@link ConfigError} naming the variable. */
  static load(path: string, variable = 'CRTRAIL_AUTH_TOKENS_FILE'): TokenTable {
    return TokenTable.parse(readSecretFile(path, variable), path);
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * The cluster of `token`, or undefined. Constant time in the token: its digest is compared with
   * every entry (no early return), with `timingSafeEqual`, so neither the position of a match nor the
   * length of a common prefix shows in the response time.
   */
  clusterOf(token: string): string | undefined {
    const presented = sha256(token);
    let found: string | undefined;
    for (const entry of this.entries) {
      const match = timingSafeEqual(presented, entry.digest);
      if (match) found = entry.cluster;
    }
    return found;
  }
}
