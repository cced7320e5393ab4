import type { FastifyInstance, FastifyRequest } from 'fastify';
import { admitBatch, checkClusterName, type Admission } from '../admit.js';
import { resolveCluster, type WebhookAuth } from '../auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The cluster this request's batch is filed under, decided by {@link identify}. */
    cluster: string;
    /** process.hrtime of the request's arrival: ack latency is measured from here. */
    arrivedAt: bigint;
  }
}

/** What the audit routes need: the shared admission path, who may send, and the default cluster. */
export interface AuditRouteOptions {
  /** Filter, redaction, bounded jobs, the sink and the metrics, shared with the provider intakes. */
  admission: Admission;
  /** TLS client certificates and bearer tokens; none = every sender may name any cluster. */
  auth: WebhookAuth;
  /** The cluster of `POST /audit` without credentials naming one. */
  defaultCluster: string;
}

/**
 * onRequest of the audit routes. Who may send for which cluster is decided from the credentials and
 * the path alone, before the body is read: an unauthenticated client cannot make us inflate or parse
 * 32 MiB, and over the backpressure limit a body that could not be queued is not read either.
 */
export async function identify(options: AuditRouteOptions, request: FastifyRequest): Promise<void> {
  // Ack latency is what the apiserver waits: from the request's arrival, body transfer and parse included.
  request.arrivedAt = process.hrtime.bigint();
  const cluster = checkClusterName(
    resolveCluster(request, options.auth, (request.params as { cluster?: string }).cluster, options.defaultCluster),
  );
  request.server.backpressure.check();
  request.cluster = cluster;
}

/**
 * Handler of the audit routes: the EventList goes through {@link admitBatch} (schema, filter,
 * redaction, bounded jobs through the sink) and is acked `{accepted: n}` (all events of the batch,
 * kept or not) only once the sink has them.
 */
export function receive(options: AuditRouteOptions, request: FastifyRequest): Promise<{ accepted: number }> {
  return admitBatch(options.admission, request.server.backpressure, {
    cluster: request.cluster,
    body: request.body,
    source: request.bodySource,
    arrivedAt: request.arrivedAt,
    // A 20 MB body is ~45 MB (its bytes and its parsed events) not needed while its jobs are written.
    release: () => {
      request.body = undefined;
      request.bodySource = undefined;
    },
  });
}

/** `POST /audit` and `POST /audit/<cluster>`: kube-apiserver's webhook backend. */
export async function auditRoutes(app: FastifyInstance, options: AuditRouteOptions): Promise<void> {
  app.decorateRequest('cluster', '');
  app.decorateRequest('arrivedAt', 0n);
  const route = {
    onRequest: (request: FastifyRequest) => identify(options, request),
    handler: (request: FastifyRequest) => receive(options, request),
  };
  app.post('/audit', route);
  app.post('/audit/:cluster', route);
}
