import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { loadApiserverAuth, type ApiserverAuth, type Env } from '@crtrail/config';
import { errors } from './errors.js';
import { loadIntakeAuth, type IntakeAuth } from './intake-auth.js';

/** How the webhook authenticates its senders: the apiserver's TLS and/or bearer tokens, and the provider intakes'. */
export interface WebhookAuth extends ApiserverAuth {
  /** The provider intakes' own credentials (Firehose keys, Pub/Sub push tokens / OIDC); the bearer tokens do not apply to them. */
  intake?: IntakeAuth;
}

/**
 * Reads the apiserver's credentials ({@link loadApiserverAuth}) and the intakes' once, at start: a
 * bad file or setting throws a `ConfigError` naming the variable (or the file and line), before anything listens.
 */
export function loadWebhookAuth(env: Env): WebhookAuth {
  const auth: WebhookAuth = loadApiserverAuth(env);
  const intake = loadIntakeAuth(env);
  if (intake.firehose || intake.pubsub) auth.intake = intake;
  return auth;
}

const BEARER = /^Bearer +(\S+) *$/i;

/** The subject CN of the verified client certificate, or a reason why there is none usable. */
function clientCertCluster(request: FastifyRequest): string {
  const socket = request.raw.socket as TLSSocket;
  // With rejectUnauthorized the handshake already failed for an unverified certificate; this is the
  // second lock, should the server ever be built differently.
  if (!socket.authorized)
    throw new errors.CRTRAIL_ERR_FORBIDDEN(
      `client certificate not verified: ${String(socket.authorizationError ?? 'none sent')}`,
    );
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
    if (header === undefined)
      throw new errors.CRTRAIL_ERR_UNAUTHORIZED('missing bearer token: send "Authorization: Bearer <token>"');
    const token = BEARER.exec(header)?.[1];
    if (token === undefined)
      throw new errors.CRTRAIL_ERR_UNAUTHORIZED('the Authorization header is not "Bearer <token>"');
    const cluster = auth.tokens.clusterOf(token);
    if (cluster === undefined) throw new errors.CRTRAIL_ERR_UNAUTHORIZED('unknown bearer token');
    if (identity && identity.cluster !== cluster) {
      throw new errors.CRTRAIL_ERR_FORBIDDEN(
        `the bearer token is for cluster ${JSON.stringify(cluster)} but ${identity.by} is ${JSON.stringify(identity.cluster)}`,
      );
    }
    identity ??= { cluster, by: "the bearer token's cluster" };
  }
  if (identity && pathCluster !== undefined && pathCluster !== identity.cluster) {
    throw new errors.CRTRAIL_ERR_FORBIDDEN(
      `${identity.by} is ${JSON.stringify(identity.cluster)}: it may not send events for cluster ${JSON.stringify(pathCluster)}`,
    );
  }
  return identity?.cluster ?? pathCluster ?? defaultCluster;
}
