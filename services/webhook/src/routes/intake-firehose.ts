import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import {
  firehoseAccessCheck,
  firehoseHandler,
  firehoseResponse,
  intakeErrors,
  type IntakeHeaders,
} from '@crtrail/intake';
import { checkClusterName } from '../admit.js';
import type { ClusterSecrets } from '../intake-auth.js';
import { JSON_TYPES } from '../plugins/body.js';
import { refusalOf } from '../plugins/error-handler.js';
import { deliverTo, recordRefusal, type IntakeRouteOptions } from './intake-delivery.js';

export interface FirehoseRouteOptions extends IntakeRouteOptions {
  /** CRTRAIL_FIREHOSE_ACCESS_KEYS_FILE: the access keys of each cluster's delivery streams. */
  keys: ClusterSecrets;
}

type Handler = ReturnType<typeof firehoseHandler>;

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * `POST /intake/firehose/<cluster>`: Amazon Data Firehose's HTTP endpoint delivery of an EKS audit
 * log (CloudWatch Logs subscription → Firehose). Every answer, refusals before the body too, is
 * Firehose's documented body `{requestId, timestamp, errorMessage?}`, so its error bucket says why.
 */
export async function firehoseIntakeRoutes(app: FastifyInstance, options: FirehoseRouteOptions): Promise<void> {
  const { admission, keys, bodyLimit } = options;
  // One handler per cluster, built from that cluster's keys only: a stream's key is good for the
  // cluster it names and no other (403), exactly as a bearer token is for /audit.
  const byCluster = new Map<string, { check: (h: IntakeHeaders) => void; handle: Handler }>();
  for (const cluster of keys.clusters()) {
    const accessKeys = keys.of(cluster);
    // Decompression of each record is bounded like the body: a gzip bomb ends as a 413.
    byCluster.set(cluster, {
      check: firehoseAccessCheck(accessKeys),
      handle: firehoseHandler({ accessKeys, maxInflatedBytes: bodyLimit }),
    });
  }
  const arrival = new WeakMap<FastifyRequest, bigint>();

  // The raw bytes: the handler checks and decodes Firehose's body itself. The root preParsing hook
  // has already inflated a gzip body as a stream, bounded by the body limit.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'buffer' }, (_request, raw, done) => done(null, raw));

  // Refusals before the handler (cluster name, key, backpressure, 413, 415) are counted and logged
  // as the webhook's, and answered in Firehose's shape.
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const refusal = refusalOf(err, request, { metrics: admission.metrics, bodyLimit });
    void reply.headers(refusal.headers);
    void reply
      .code(refusal.status)
      .send(firehoseResponse(header(request, 'x-amz-firehose-request-id') ?? '', `${refusal.code}: ${refusal.reason}`));
  });

  app.post('/intake/firehose/:cluster', {
    // Who may send, for which cluster, and whether the queue can take it, before the body is read.
    onRequest: async (request) => {
      arrival.set(request, process.hrtime.bigint());
      const cluster = checkClusterName((request.params as { cluster: string }).cluster);
      const entry = byCluster.get(cluster);
      if (!entry) {
        if (!header(request, 'x-amz-firehose-access-key'))
          throw intakeErrors.unauthorized('X-Amz-Firehose-Access-Key is missing');
        throw intakeErrors.forbidden(`no Firehose access key is configured for cluster ${JSON.stringify(cluster)}`);
      }
      entry.check(request.headers);
      request.server.backpressure.check();
    },
    handler: async (request, reply) => {
      const cluster = (request.params as { cluster: string }).cluster;
      const entry = byCluster.get(cluster);
      // Checked before the body was read (above); kept so the handler never runs without its cluster's intake.
      if (!entry)
        throw intakeErrors.forbidden(`no Firehose access key is configured for cluster ${JSON.stringify(cluster)}`);
      const { handle } = entry;
      // The body plugin has inflated the body already: to the handler it is identity-encoded.
      const { 'content-encoding': _inflated, ...headers } = request.headers;
      const deliver = deliverTo(admission, request, cluster, arrival.get(request) ?? process.hrtime.bigint());
      const out = await handle({ headers, body: request.body as Buffer }, deliver);
      if (out.error) recordRefusal(out.error, request, options);
      return reply.code(out.status).headers(out.headers).send(out.body);
    },
  });
}
