import type { FastifyError, FastifyRequest } from 'fastify';
import type { AuditEvent } from '@crtrail/audit';
import type { EventSink } from '@crtrail/intake';
import { admitBatch, type Admission } from '../admit.js';
import { isWebhookError, responseHeadersOf } from '../errors.js';
import { refusalOf } from '../plugins/error-handler.js';

/** What both intake routes need: the shared admission path, and how refusals are counted and named. */
export interface IntakeRouteOptions {
  admission: Admission;
  /** The body limit (the error handler's wording, and the Firehose decompression bound). */
  bodyLimit: number;
}

/**
 * The intake's `deliver`: the converted events go through exactly the path of `POST /audit`'s
 * EventList ({@link admitBatch}). A webhook refusal keeps its status for the intake handler, and its
 * `Retry-After` (the handler reads `retryAfterSeconds`), so a provider backs off as an apiserver does.
 */
export function deliverTo(
  admission: Admission,
  request: FastifyRequest,
  cluster: string,
  arrivedAt: bigint,
): EventSink {
  return async (events: AuditEvent[]) => {
    try {
      // The intake's own body size does not bound the events' JSON (base64 of gzip may be smaller): measure.
      return await admitBatch(admission, request.server.backpressure, {
        cluster,
        body: { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: events },
        arrivedAt,
      });
    } catch (err) {
      if (isWebhookError(err)) {
        const retryAfter = responseHeadersOf(err.code)['retry-after'];
        if (retryAfter !== undefined) Object.assign(err, { retryAfterSeconds: Number(retryAfter) });
      }
      throw err;
    }
  };
}

/** Counts and logs an intake handler's refusal exactly as the error handler does for `/audit`. */
export function recordRefusal(err: Error, request: FastifyRequest, options: IntakeRouteOptions): void {
  refusalOf(err as FastifyError, request, { metrics: options.admission.metrics, bodyLimit: options.bodyLimit });
}
