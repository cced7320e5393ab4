import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { AuditEvent } from '@crtrail/audit';

/*
 * Provider requests as the providers build them, from the intake package's fixtures (their shapes
 * and sources are in packages/intake/test/fixtures/SOURCES.md): the route tests and the end-to-end
 * suite send the same writes through every route.
 */

const fixtures = new URL('../../../../packages/intake/test/fixtures/', import.meta.url);
export const fixtureText = (name: string): string => readFileSync(new URL(name, fixtures), 'utf8');
export const fixtureJson = <T = unknown>(name: string): T => JSON.parse(fixtureText(name)) as T;
export const fixturePath = (name: string): string => new URL(name, fixtures).pathname;
export const ndjson = <T = unknown>(name: string): T[] =>
  fixtureText(name)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);

/** The five writes as kube-apiserver's webhook backend sends them. */
export const nativeWrites = (): AuditEvent[] => ndjson<AuditEvent>('native-writes.ndjson');
/** The same writes as GKE logs them with request/response bodies, one LogEntry each. */
export const gkeEntries = (): Array<Record<string, unknown>> => ndjson('gke-entries-request-response.ndjson');

/** A Firehose HTTP endpoint request body of the EKS fixture's CloudWatch payloads (gzip'd, base64), as Firehose builds it. */
export function firehoseBody(
  payloads: unknown[] = fixtureJson<unknown[]>('eks-cloudwatch-payloads.json'),
  requestId = 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f',
): string {
  return JSON.stringify({
    requestId,
    timestamp: 1578090901599,
    records: payloads.map((p) => ({ data: gzipSync(Buffer.from(JSON.stringify(p))).toString('base64') })),
  });
}

/** Firehose's request headers (the spec's names) for a key. */
export const firehoseHeaders = (
  key: string | undefined,
  requestId = 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f',
): Record<string, string> => ({
  'content-type': 'application/json',
  'x-amz-firehose-protocol-version': '1.0',
  'x-amz-firehose-request-id': requestId,
  ...(key !== undefined ? { 'x-amz-firehose-access-key': key } : {}),
});

/** A Pub/Sub push envelope (wrapped) of one LogEntry. */
export function pushEnvelope(entry: unknown, messageId = '2070443601311540'): Record<string, unknown> {
  return {
    message: {
      attributes: { 'logging.googleapis.com/timestamp': '2026-03-02T10:00:01.123456Z' },
      data: Buffer.from(JSON.stringify(entry)).toString('base64'),
      messageId,
      publishTime: '2026-03-02T10:00:02.749Z',
    },
    subscription: 'projects/shop-prod/subscriptions/crtrail-audit',
  };
}

export const PUSHER = 'crtrail-push@shop-prod.iam.gserviceaccount.com';

/** A signing key pair standing in for Google's, its JWKS, and tokens shaped as Google's push JWT. */
export async function pushSigner(kid = 'test-key-1') {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return {
    jwks: { keys: [jwk] },
    keys: createLocalJWKSet({ keys: [jwk] }),
    async token(audience: string, over: JWTPayload = {}): Promise<string> {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({
        aud: audience,
        azp: '113774264463038321964',
        email: PUSHER,
        email_verified: true,
        sub: '113774264463038321964',
        iss: 'https://accounts.google.com',
        iat: now,
        exp: now + 3600,
        ...over,
      })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .sign(privateKey);
    },
  };
}
