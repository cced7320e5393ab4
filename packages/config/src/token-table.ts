import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CLUSTER_NAME, CLUSTER_NAME_RULE } from './cluster-name.js';
import { ConfigError } from './env.js';

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
    const entries: TokenEntry[] = [];
    const seen = new Map<string, number>();
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const where = `${source}:${i + 1}`;
      const fields = line.split(/\s+/);
      if (fields.length !== 2) {
        throw new ConfigError(
          `${where}: expected "<token> <cluster>" (2 fields separated by spaces), found ${fields.length}`,
        );
      }
      const [token, cluster] = fields as [string, string];
      if (!CLUSTER_NAME.test(cluster)) {
        throw new ConfigError(`${where}: cluster name ${JSON.stringify(cluster)}: ${CLUSTER_NAME_RULE}`);
      }
      // The same token for two clusters would make the cluster of a batch depend on line order.
      const key = sha256(token).toString('hex');
      const first = seen.get(key);
      if (first !== undefined) throw new ConfigError(`${where}: this token is already listed on line ${first}`);
      seen.set(key, i + 1);
      entries.push({ digest: sha256(token), cluster });
    });
    if (entries.length === 0) throw new ConfigError(`${source}: no tokens (expected "<token> <cluster>" lines)`);
    return new TokenTable(entries);
  }

  /** Reads and parses a tokens file; an unreadable file is a {@link ConfigError} naming the variable. */
  static load(path: string, variable = 'CRTRAIL_AUTH_TOKENS_FILE'): TokenTable {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`${variable}=${JSON.stringify(path)}: ${(err as Error).message}`);
    }
    return TokenTable.parse(text, path);
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
