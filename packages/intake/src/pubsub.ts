import { isObject, type AuditEvent } from '@crtrail/audit';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { decodeBase64, DEFAULT_MAX_INFLATED_BYTES, maybeGunzip, parseJson } from './decode.js';
import { intakeErrors, refusalOf } from './errors.js';
import type { EventSink, IntakeHeaders, IntakeReply } from './firehose.js';
import { gkeEventOfEntry } from './gke.js';
import type { Skipped } from './result.js';
import { SecretSet } from './secrets.js';

/*
 * A Pub/Sub push subscription POSTs each message wrapped as
 * {"message": {"data": base64, "attributes": {...}, "messageId", "publishTime"}, "subscription":
 * "projects/<p>/subscriptions/<s>"}. A Cloud Logging sink to a topic publishes one LogEntry (JSON)
 * per message. The endpoint acks with 102, 200, 201, 202 or 204; any other status is a nack and
 * Pub/Sub redelivers with backoff until the message expires or goes to a dead-letter topic.
 * Authenticated push sends `Authorization: Bearer <OIDC JWT>` signed by Google (iss
 * https://accounts.google.com, aud = the configured audience, email = the push service account,
 * email_verified = true), verifiable with Google's JWKS; a `?token=` in the push URL is the older
 * shared-secret scheme.
 */

/** The documented push envelope (wrapped delivery). */
export interface PubSubPushEnvelope {
  message: { data?: string; attributes?: Record<string, string>; messageId?: string; publishTime?: string };
  subscription?: string;
}

/** Google's OIDC signing keys, where authenticated push tokens are verified by default. */
export const GOOGLE_JWKS_URL = 'https://www.googleapis.com/oauth2/v3/certs';
/** Both spellings Google uses for its issuer. */
export const GOOGLE_ISSUERS: readonly string[] = Object.freeze(['https://accounts.google.com', 'accounts.google.com']);

export interface PubSubOidcOptions {
  /** The audience configured on the push subscription (by default its push endpoint URL). */
  audience: string;
  /** The push subscription's service account; tokens for any other email are refused. */
  serviceAccountEmail: string;
  /** Where the signing keys come from: a jose key getter (a local JWKS in tests), or Google's JWKS URL by default. */
  keys?: JWTVerifyGetKey;
  issuers?: readonly string[];
  /** Clock skew tolerated on exp / iat, seconds (default 60). */
  clockToleranceSeconds?: number;
}

export interface PubSubOptions {
  /** Shared secrets accepted in the push URL's `?token=`. */
  tokens?: readonly string[];
  /** OIDC verification of the `Authorization: Bearer` token Pub/Sub signs. */
  oidc?: PubSubOidcOptions;
  maxInflatedBytes?: number;
}

/** One push request as a route sees it. */
export interface PubSubRequest {
  headers: IntakeHeaders;
  /** The query string's parameters (fastify's `request.query`). */
  query: Readonly<Record<string, unknown>>;
  /** The parsed JSON body (the route's JSON parser) or the raw bytes. */
  body: unknown;
}

export interface PubSubDelivery {
  messageId?: string;
  subscription?: string;
  events: AuditEvent[];
  skipped: Skipped[];
}

const bearerOf = (headers: IntakeHeaders): string | undefined => {
  const raw = headers.authorization;
  const value = Array.isArray(raw) ? raw[0] : (raw as string | undefined);
  const m = value ? /^Bearer\s+(\S+)$/i.exec(value) : null;
  return m?.[1];
};

/**
 * A checker for push requests: the `?token=` against the configured tokens (constant time), and/or
 * the OIDC JWT's signature, issuer, audience, expiry, email and email_verified. With both
 * configured both must pass. With neither, it refuses to be built: an intake is never open.
 */
export function pubsubAuthCheck(
  options: PubSubOptions,
): (request: Pick<PubSubRequest, 'headers' | 'query'>) => Promise<void> {
  const tokens = options.tokens && options.tokens.length > 0 ? new SecretSet(options.tokens) : undefined;
  const oidc = options.oidc;
  if (!tokens && !oidc) throw new Error('pubsub intake: configure push tokens, OIDC verification, or both');
  const keys = oidc ? (oidc.keys ?? createRemoteJWKSet(new URL(GOOGLE_JWKS_URL))) : undefined;
  const challenge = { 'www-authenticate': 'Bearer realm="crtrail"' };
  return async ({ headers, query }) => {
    if (tokens) {
      const token = query.token;
      if (typeof token !== 'string' || token === '') throw intakeErrors.unauthorized('the push URL has no ?token=');
      if (!tokens.has(token)) throw intakeErrors.forbidden('?token= does not match a configured push token');
    }
    if (oidc && keys) {
      const jwt = bearerOf(headers);
      if (!jwt) throw intakeErrors.unauthorized('Authorization: Bearer <OIDC token> is missing', challenge);
      let claims: Record<string, unknown>;
      try {
        ({ payload: claims } = await jwtVerify(jwt, keys, {
          issuer: [...(oidc.issuers ?? GOOGLE_ISSUERS)],
          audience: oidc.audience,
          clockTolerance: oidc.clockToleranceSeconds ?? 60,
          requiredClaims: ['exp', 'iat', 'email'],
        }));
      } catch (err) {
        // A token that is not a valid Google token is a 401 (authenticate again); one that is valid
        // but names another audience or issuer is a 403 (this caller may not post here).
        if (err instanceof joseErrors.JWTClaimValidationFailed && (err.claim === 'aud' || err.claim === 'iss')) {
          throw intakeErrors.forbidden(`OIDC token ${err.claim} is not accepted here`);
        }
        throw intakeErrors.unauthorized(`OIDC token rejected: ${(err as Error).message}`, challenge);
      }
      if (claims.email !== oidc.serviceAccountEmail)
        throw intakeErrors.forbidden('OIDC token email is not the push service account');
      if (claims.email_verified !== true) throw intakeErrors.forbidden('OIDC token email is not verified');
    }
  };
}

/** Checks the push envelope and converts its one LogEntry. */
export function decodePubSubPush(body: unknown, maxInflatedBytes = DEFAULT_MAX_INFLATED_BYTES): PubSubDelivery {
  const parsed = body instanceof Uint8Array || typeof body === 'string' ? parseJson(body, 'body') : body;
  if (!isObject(parsed) || !isObject(parsed.message)) {
    throw intakeErrors.invalidShape(
      'body',
      'expected a Pub/Sub push envelope {message: {data, attributes, messageId}, subscription} (push without payload unwrapping)',
    );
  }
  const message = parsed.message;
  const data = maybeGunzip(decodeBase64(message.data, 'message.data'), 'message.data', maxInflatedBytes);
  const ids = {
    ...(typeof message.messageId === 'string' ? { messageId: message.messageId } : {}),
    ...(typeof parsed.subscription === 'string' ? { subscription: parsed.subscription } : {}),
  };
  if (data.length === 0) return { ...ids, events: [], skipped: [{ where: 'message.data', reason: 'empty' }] };
  const out = gkeEventOfEntry(parseJson(data, 'message.data'), 'message.data');
  return 'event' in out ? { ...ids, events: [out.event], skipped: [] } : { ...ids, events: [], skipped: [out.skipped] };
}

/** The body of a push answer; Pub/Sub reads only the status, people read the rest. */
export interface PubSubReplyBody {
  accepted?: number;
  skipped?: number;
  error?: string;
}

/**
 * The whole push route, ready to mount at `POST /intake/pubsub/:cluster`: auth, envelope, one
 * LogEntry converted, delivery to the sink, and 200 only after the sink resolved (Pub/Sub then
 * acks the message). A skipped entry (not a Kubernetes audit entry) is acked with 200, so it is
 * not redelivered forever; bad input is a 400 (redelivered until a dead-letter topic takes it).
 */
export function pubsubHandler(
  options: PubSubOptions,
): (
  request: PubSubRequest,
  deliver: EventSink,
) => Promise<IntakeReply<PubSubReplyBody> & { delivery?: PubSubDelivery }> {
  const check = pubsubAuthCheck(options);
  return async (request, deliver) => {
    const json = { 'content-type': 'application/json' };
    try {
      await check(request);
      const delivery = decodePubSubPush(request.body, options.maxInflatedBytes);
      if (delivery.events.length > 0) await deliver(delivery.events);
      return {
        status: 200,
        headers: json,
        body: { accepted: delivery.events.length, skipped: delivery.skipped.length },
        delivery,
      };
    } catch (err) {
      const { status, headers, message, error } = refusalOf(
        err,
        json,
        'internal error; the message will be redelivered',
      );
      return { status, headers, body: { error: message }, error };
    }
  };
}
