import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { ConfigError, parseSecretLines, readSecretFile, type Env } from '@crtrail/config';
import { GOOGLE_JWKS_URL } from '@crtrail/intake';

/**
 * The shared secrets of one intake (Firehose access keys, Pub/Sub push tokens), by the cluster each
 * may send for. The file has the tokens file's format, `<secret> <cluster>` per line, `#` comments:
 * a secret names one cluster (the path naming another is a 403), and a cluster may have several
 * secrets at once, which is how one is rotated without a refused delivery.
 */
export class ClusterSecrets {
  private constructor(private readonly byCluster: ReadonlyMap<string, readonly string[]>) {}

  /** Parses the file's text; `source` (the file name) prefixes every error as `source:line`. */
  static parse(text: string, source: string): ClusterSecrets {
    const byCluster = new Map<string, string[]>();
    for (const { secret, cluster } of parseSecretLines(text, source, 'secret')) {
      byCluster.set(cluster, [...(byCluster.get(cluster) ?? []), secret]);
    }
    return new ClusterSecrets(byCluster);
  }

  /** Reads and parses a secrets file; an unreadable file is a {@link ConfigError} naming the variable. */
  static load(path: string, variable: string): ClusterSecrets {
    return ClusterSecrets.parse(readSecretFile(path, variable), path);
  }

  /** The clusters that have at least one secret. */
  clusters(): string[] {
    return [...this.byCluster.keys()];
  }

  /** The secrets of `cluster` (none: that cluster may not send through this intake). */
  of(cluster: string): readonly string[] {
    return this.byCluster.get(cluster) ?? [];
  }
}

/** OIDC verification of Pub/Sub's signed push requests. */
export interface PubSubOidc {
  /** The audience the subscription signs for; `{cluster}` in it stands for the path's cluster. */
  audience: string;
  serviceAccountEmail: string;
  /** Where the signing keys come from (Google's JWKS, fetched once and cached by jose). */
  keys: JWTVerifyGetKey;
}

/** How each provider intake authenticates its sender; an intake absent here has no route (404). */
export interface IntakeAuth {
  /** CRTRAIL_FIREHOSE_ACCESS_KEYS_FILE: `X-Amz-Firehose-Access-Key` values by cluster. */
  firehose?: ClusterSecrets;
  /** CRTRAIL_PUBSUB_TOKENS_FILE and/or CRTRAIL_PUBSUB_AUDIENCE + _SERVICE_ACCOUNT: both configured = both required. */
  pubsub?: { tokens?: ClusterSecrets; oidc?: PubSubOidc };
}

/** The audience a push for `cluster` must be signed for. */
export function audienceFor(oidc: Pick<PubSubOidc, 'audience'>, cluster: string): string {
  return oidc.audience.replaceAll('{cluster}', cluster);
}

/**
 * Reads the intakes' credentials once, at start: a missing or malformed file, or an OIDC setting
 * without its pair, throws a {@link ConfigError} naming the variable before anything listens.
 */
export function loadIntakeAuth(env: Env): IntakeAuth {
  const auth: IntakeAuth = {};
  if (env.CRTRAIL_FIREHOSE_ACCESS_KEYS_FILE)
    auth.firehose = ClusterSecrets.load(env.CRTRAIL_FIREHOSE_ACCESS_KEYS_FILE, 'CRTRAIL_FIREHOSE_ACCESS_KEYS_FILE');
  const audience = env.CRTRAIL_PUBSUB_AUDIENCE;
  const serviceAccountEmail = env.CRTRAIL_PUBSUB_SERVICE_ACCOUNT;
  if ((audience === undefined) !== (serviceAccountEmail === undefined)) {
    throw new ConfigError(
      'CRTRAIL_PUBSUB_AUDIENCE and CRTRAIL_PUBSUB_SERVICE_ACCOUNT must be set together: a push token is verified for both its audience and its service account',
    );
  }
  if (env.CRTRAIL_PUBSUB_JWKS_URL && audience === undefined) {
    throw new ConfigError(
      'CRTRAIL_PUBSUB_JWKS_URL needs CRTRAIL_PUBSUB_AUDIENCE and CRTRAIL_PUBSUB_SERVICE_ACCOUNT (it is where their tokens are verified)',
    );
  }
  const tokens = env.CRTRAIL_PUBSUB_TOKENS_FILE
    ? ClusterSecrets.load(env.CRTRAIL_PUBSUB_TOKENS_FILE, 'CRTRAIL_PUBSUB_TOKENS_FILE')
    : undefined;
  const oidc =
    audience !== undefined && serviceAccountEmail !== undefined
      ? {
          audience,
          serviceAccountEmail,
          keys: createRemoteJWKSet(new URL(env.CRTRAIL_PUBSUB_JWKS_URL ?? GOOGLE_JWKS_URL)),
        }
      : undefined;
  if (tokens || oidc) auth.pubsub = { ...(tokens ? { tokens } : {}), ...(oidc ? { oidc } : {}) };
  return auth;
}
