import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError, type Env } from './env.js';
import { TokenTable } from './token-table.js';

/** TLS material of the webhook's server: PEM as read from the files. */
export interface WebhookTls {
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mTLS); its subject CN names the cluster. */
  clientCa?: Buffer;
}

/**
 * How the webhook authenticates the apiserver: TLS (optionally mutual) and/or bearer tokens. Here,
 * not in the webhook, because `crtrail kubeconfig` describes the same mode to the apiserver.
 */
export interface ApiserverAuth {
  tls?: WebhookTls;
  tokens?: TokenTable;
}

function readVariable(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${variable}=${JSON.stringify(path)}: ${(err as Error).message}`);
  }
}

/**
 * Reads CRTRAIL_TLS_CERT/KEY/CLIENT_CA and CRTRAIL_AUTH_TOKENS_FILE once, at start: an unreadable
 * file, a key that does not match its certificate or a malformed tokens line throws a
 * {@link ConfigError} naming the variable (or the file and line), before anything listens.
 */
export function loadApiserverAuth(env: Env): ApiserverAuth {
  const auth: ApiserverAuth = {};
  if (env.CRTRAIL_TLS_CERT && env.CRTRAIL_TLS_KEY) {
    const tls: WebhookTls = {
      cert: readVariable('CRTRAIL_TLS_CERT', env.CRTRAIL_TLS_CERT),
      key: readVariable('CRTRAIL_TLS_KEY', env.CRTRAIL_TLS_KEY),
    };
    if (env.CRTRAIL_TLS_CLIENT_CA) tls.clientCa = readVariable('CRTRAIL_TLS_CLIENT_CA', env.CRTRAIL_TLS_CLIENT_CA);
    try {
      // The same parse the server does at listen(), done here so the error names the variables.
      createSecureContext({ cert: tls.cert, key: tls.key, ...(tls.clientCa ? { ca: tls.clientCa } : {}) });
    } catch (err) {
      throw new ConfigError(
        `CRTRAIL_TLS_CERT/CRTRAIL_TLS_KEY${tls.clientCa ? '/CRTRAIL_TLS_CLIENT_CA' : ''}: ${(err as Error).message}`,
      );
    }
    auth.tls = tls;
  } else if (env.CRTRAIL_TLS_CLIENT_CA) {
    throw new ConfigError(
      'CRTRAIL_TLS_CLIENT_CA needs CRTRAIL_TLS_CERT and CRTRAIL_TLS_KEY (client certificates are a TLS feature)',
    );
  }
  if (env.CRTRAIL_AUTH_TOKENS_FILE) auth.tokens = TokenTable.load(env.CRTRAIL_AUTH_TOKENS_FILE);
  return auth;
}
