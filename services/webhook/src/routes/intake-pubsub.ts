import type { FastifyInstance, FastifyRequest } from 'fastify';
import { intakeErrors, pubsubAuthCheck, pubsubHandler, type PubSubOptions } from '@crtrail/intake';
import { checkClusterName } from '../admit.js';
import { audienceFor, type IntakeAuth } from '../intake-auth.js';
import { deliverTo, recordRefusal, type IntakeRouteOptions } from './intake-delivery.js';

export interface PubSubRouteOptions extends IntakeRouteOptions {
  /** CRTRAIL_PUBSUB_TOKENS_FILE and/or the OIDC settings; both configured = both required. */
  auth: NonNullable<IntakeAuth['pubsub']>;
}

/**
 * `POST /intake/pubsub/<cluster>`: a Pub/Sub push (wrapped) of one GKE Cloud Audit Logs entry. The
 * push is authenticated for the path's cluster: its `?token=` must be one of that cluster's, and its
 * OIDC token signed for that cluster's audience by the configured service account.
 */
export async function pubsubIntakeRoutes(app: FastifyInstance, options: PubSubRouteOptions): Promise<void> {
  const { admission, auth, bodyLimit } = options;
  const arrival = new WeakMap<FastifyRequest, bigint>();

  /** The handler's options for one cluster (cheap: digests of that cluster's tokens; the JWKS is shared). */
  const optionsFor = (cluster: string): PubSubOptions => ({
    ...(auth.tokens ? { tokens: auth.tokens.of(cluster) } : {}),
    ...(auth.oidc
      ? {
          oidc: {
            audience: audienceFor(auth.oidc, cluster),
            serviceAccountEmail: auth.oidc.serviceAccountEmail,
            keys: auth.oidc.keys,
          },
        }
      : {}),
    maxInflatedBytes: bodyLimit,
  });

  app.post('/intake/pubsub/:cluster', {
    // Who may send, for which cluster, and whether the queue can take it, before the body is read.
    onRequest: async (request) => {
      arrival.set(request, process.hrtime.bigint());
      const cluster = checkClusterName((request.params as { cluster: string }).cluster);
      if (auth.tokens && auth.tokens.of(cluster).length === 0) {
        // Tokens are required and this cluster has none: no push can be right for it.
        const token = (request.query as { token?: unknown }).token;
        if (typeof token !== 'string' || token === '') throw intakeErrors.unauthorized('the push URL has no ?token=');
        throw intakeErrors.forbidden(`no push token is configured for cluster ${JSON.stringify(cluster)}`);
      }
      await pubsubAuthCheck(optionsFor(cluster))({
        headers: request.headers,
        query: request.query as Record<string, unknown>,
      });
      request.server.backpressure.check();
    },
    handler: async (request, reply) => {
      const cluster = (request.params as { cluster: string }).cluster;
      const deliver = deliverTo(admission, request, cluster, arrival.get(request) ?? process.hrtime.bigint());
      const out = await pubsubHandler(optionsFor(cluster))(
        { headers: request.headers, query: request.query as Record<string, unknown>, body: request.body },
        deliver,
      );
      if (out.error) recordRefusal(out.error, request, options);
      return reply.code(out.status).headers(out.headers).send(out.body);
    },
  });
}
