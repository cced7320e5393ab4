import { readFileSync } from 'node:fs';
import { CLUSTER_NAME, CLUSTER_NAME_RULE } from './cluster-name.js';
import { ConfigError } from './env.js';

/** One `<secret> <cluster>` line of a credentials file, with its 1-based line number. */
export interface SecretLine {
  readonly secret: string;
  readonly cluster: string;
  readonly line: number;
}

/**
 * Parses the credentials-file format shared by the apiserver's bearer tokens and the intakes'
 * secrets: one `<secret> <cluster>` per line, blank and `#` lines ignored. `noun` names the secret
 * in errors ("token", "secret"); `source` (the file name) prefixes them as `source:line`. A
 * malformed line, an invalid cluster name, a secret listed twice (the cluster a request is filed
 * under would then depend on line order) or a file with none throws a {@link ConfigError}.
 */
export function parseSecretLines(text: string, source: string, noun: string): SecretLine[] {
  const lines: SecretLine[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source}:${i + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length !== 2) {
      throw new ConfigError(
        `${where}: expected "<${noun}> <cluster>" (2 fields separated by spaces), found ${fields.length}`,
      );
    }
    const [secret, cluster] = fields as [string, string];
    if (!CLUSTER_NAME.test(cluster)) {
      throw new ConfigError(`${where}: cluster name ${JSON.stringify(cluster)}: ${CLUSTER_NAME_RULE}`);
    }
    const first = seen.get(secret);
    if (first !== undefined) throw new ConfigError(`${where}: this ${noun} is already listed on line ${first}`);
    seen.set(secret, i + 1);
    lines.push({ secret, cluster, line: i + 1 });
  });
  if (lines.length === 0) throw new ConfigError(`${source}: no ${noun}s (expected "<${noun}> <cluster>" lines)`);
  return lines;
}

/** Reads a credentials file; an unreadable file is a {@link ConfigError} naming the variable. */
export function readSecretFile(path: string, variable: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${variable}=${JSON.stringify(path)}: ${(err as Error).message}`);
  }
}
