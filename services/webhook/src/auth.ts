import { readFileSync } from 'node:fs';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { ConfigError, type Env } from '@crtrail/config';
import { errors } from './errors.js';
import { TokenTable } from './token-table.js';

/** TLS material of the webhook's server: PEM as read from the files. */
export interface WebhookTls {
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mTLS); its subject CN names the cluster. */
  clientCa?: Buffer;
}

/** How the webhook authenticates the apiserver: TLS (optionally mutual) and/or bearer tokens. */
export interface WebhookAuth {
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
export function loadWebhookAuth(env: Env): WebhookAuth {
  const auth: WebhookAuth = {};
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
    throw new ConfigError('CRTRAIL_TLS_CLIENT_CA needs CRTRAIL_TLS_CERT and CRTRAIL_TLS_KEY (client certificates are a TLS feature)');
  }
  if (env.CRTRAIL_AUTH_TOKENS_FILE) auth.tokens = TokenTable.load(env.CRTRAIL_AUTH_TOKENS_FILE);
  return auth;
}

const BEARER = /^Bearer +(\S+) *$/i;

/** The subject CN of the verified client certificate, or a reason why there is none usable. */
function clientCertCluster(request: FastifyRequest): string {
  const socket = request.raw.socket as TLSSocket;
  // With rejectUnauthorized the handshake already failed for an unverified certificate; this is the
  // second lock, should the server ever be built differently.
  if (!socket.authorized) throw new errors.CRTRAIL_ERR_FORBIDDEN(`client certificate not verified: ${String(socket.authorizationError ?? 'none sent')}`);
  const cn: unknown = socket.getPeerCertificate().subject?.CN;
  if (typeof cn !== 'string' || cn === '') {
    throw new errors.CRTRAIL_ERR_FORBIDDEN('the client certificate has no single subject CN naming the cluster');
  }
  return cn;
}

/**
 * The cluster a request's batch belongs to, decided from its credentials before its body is read:
 * client-certificate CN > bearer token's cluster > path `:cluster` > the default. A credential names
 * exactly one cluster, so a path (or a second credential) naming another is a 403, not a silent
 * override: a misconfigured apiserver must not file its events under a cluster it cannot speak for.
 */
export function resolveCluster(
  request: FastifyRequest,
  auth: WebhookAuth,
  pathCluster: string | undefined,
  defaultCluster: string,
): string {
  let identity: { cluster: string; by: string } | undefined;
  if (auth.tls?.clientCa) identity = { cluster: clientCertCluster(request), by: 'the client certificate CN' };
  if (auth.tokens) {
    const header = request.headers.authorization;
    if (header === undefined) throw new errors.CRTRAIL_ERR_UNAUTHORIZED('missing bearer token: send "Authorization: Bearer <token>"');
    const token = BEARER.exec(header)?.[1];
    if (token === undefined) throw new errors.CRTRAIL_ERR_UNAUTHORIZED('the Authorization header is not "Bearer <token>"');
    const cluster = auth.tokens.clusterOf(token);
    if (cluster === undefined) throw new errors.CRTRAIL_ERR_UNAUTHORIZED('unknown bearer token');
    if (identity && identity.cluster !== cluster) {
      throw new errors.CRTRAIL_ERR_FORBIDDEN(`the bearer token is for cluster ${JSON.stringify(cluster)} but ${identity.by} is ${JSON.stringify(identity.cluster)}`);
    }
    identity ??= { cluster, by: "the bearer token's cluster" };
  }
  if (identity && pathCluster !== undefined && pathCluster !== identity.cluster) {
    throw new errors.CRTRAIL_ERR_FORBIDDEN(`${identity.by} is ${JSON.stringify(identity.cluster)}: it may not send events for cluster ${JSON.stringify(pathCluster)}`);
  }
  return identity?.cluster ?? pathCluster ?? defaultCluster;
}
