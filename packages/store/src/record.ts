import type { AuditEvent, KubeObject } from '@crtrail/audit';
import type { ChangeRecordDoc, RecordActor, RecordChange, RecordObjectRef } from './document.js';
import { responseCode } from '@crtrail/audit';
import { opsText } from '@crtrail/diff';

export interface RecordInput {
  cluster: string;
  event: AuditEvent;
  /** The object this record is about (response object, or one deletecollection item). */
  object?: KubeObject | undefined;
  change: RecordChange;
  actor: RecordActor;
  /** Stored state after the write, when there is one. */
  stateAfter?: KubeObject | undefined;
  /** The object's kind when `object` does not say it (a `Status` answer): its predecessor's, or the learned one. */
  kind?: string | undefined;
  /**
   * sha256 of the configuration parts the derived fields (criticality, drift, actor, ignored paths)
   * were computed with: chained, so `verify` knows which configuration to recompute them with.
   */
  configDigest?: string | undefined;
  /** When the webhook acked the batch and when the worker wrote the record (epoch ms): pipeline lag. */
  receivedAt?: number;
  ingestedAt?: number;
}

function versionOf(event: AuditEvent, object?: KubeObject): string | undefined {
  if (event.objectRef?.apiVersion) return event.objectRef.apiVersion;
  const av = object?.apiVersion;
  return typeof av === 'string' ? av.split('/').pop() : undefined;
}

/**
 * The Elasticsearch document of one change record: ECS + `kubernetes.audit.*` (as Elastic's
 * Kubernetes audit integration names them) + `crtrail.*`. Request/response bodies are kept in
 * `_source` (unindexed) so an auditor sees exactly what the apiserver logged (after redaction).
 */
/**
 * One keyword naming the object across its records, `cluster/group/resource/namespace/name`
 * (namespace empty for a cluster-scoped object; no part can hold a `/`): what a Kibana link to an
 * object's history and a "most-changed objects" terms aggregation need as a single value.
 */
export function objectKey(
  cluster: string,
  group: string,
  resource: string | undefined,
  namespace: string | undefined,
  name: string | undefined,
): string | undefined {
  if (!resource || !name) return undefined;
  return `${cluster}/${group}/${resource}/${namespace ?? ''}/${name}`;
}

export function buildRecord(input: RecordInput): ChangeRecordDoc {
  const { event, object, cluster, change, actor } = input;
  const ref = event.objectRef ?? {};
  const meta = object?.metadata ?? {};
  const code = responseCode(event);
  const name = ref.name ?? meta.name;
  const namespace = ref.namespace ?? meta.namespace;
  // A DELETE answered by a Status names the removed object's uid in its details.
  const response = event.responseObject as { kind?: unknown; details?: { uid?: unknown } } | undefined;
  const statusUid =
    response?.kind === 'Status' && typeof response.details?.uid === 'string' ? response.details.uid : undefined;
  const uid = meta.uid ?? ref.uid ?? statusUid;
  const objectRef: RecordObjectRef = {
    apiGroup: ref.apiGroup ?? '',
    apiVersion: versionOf(event, object),
    resource: ref.resource,
    subresource: ref.subresource,
    namespace,
    name,
    uid,
    resourceVersion: meta.resourceVersion ?? ref.resourceVersion,
  };
  const sourceIPs = event.sourceIPs ?? [];
  return {
    '@timestamp': event.stageTimestamp ?? event.requestReceivedTimestamp,
    ecs: { version: '8.11.0' },
    event: {
      id: event.auditID,
      action: event.verb,
      outcome: code >= 400 ? 'failure' : 'success',
      kind: 'event',
      category: ['configuration'],
      type: [change.kind === 'create' ? 'creation' : change.kind === 'delete' ? 'deletion' : 'change'],
      created: event.requestReceivedTimestamp,
      ingested: input.ingestedAt !== undefined ? new Date(input.ingestedAt).toISOString() : undefined,
    },
    orchestrator: {
      cluster: { name: cluster },
      type: 'kubernetes',
      namespace,
      resource: { type: ref.resource, name },
    },
    user: { name: actor.name },
    source: sourceIPs.length > 0 ? { ip: sourceIPs[0] } : undefined,
    user_agent: event.userAgent ? { original: event.userAgent } : undefined,
    kubernetes: {
      audit: {
        auditID: event.auditID,
        level: event.level,
        stage: event.stage,
        verb: event.verb,
        requestURI: event.requestURI,
        userAgent: event.userAgent,
        sourceIPs,
        requestReceivedTimestamp: event.requestReceivedTimestamp,
        stageTimestamp: event.stageTimestamp,
        objectRef,
        user: event.user,
        impersonatedUser: event.impersonatedUser ?? undefined,
        responseStatus: { ...(event.responseStatus ?? {}), code },
        annotations: event.annotations,
        // A create/update request is the full object: it equals the stored response minus the
        // recorded server_mutations, so storing both would double every record's size (measured:
        // Elasticsearch's indexing cost is what bounds the pipeline). Patches keep their document.
        requestObject: event.verb === 'create' || event.verb === 'update' ? undefined : event.requestObject,
        responseObject: event.verb === 'deletecollection' ? object : event.responseObject,
      },
    },
    crtrail: {
      actor,
      object: {
        kind: input.kind ?? object?.kind,
        group: ref.apiGroup ?? '',
        version: objectRef.apiVersion,
        resource: ref.resource,
        namespace,
        name,
        uid,
        resourceVersion: objectRef.resourceVersion,
        key: objectKey(cluster, ref.apiGroup ?? '', ref.resource, namespace, name),
      },
      change: { ...change, text: opsText(change.ops) },
      state: input.stateAfter ? { after: input.stateAfter } : undefined,
      config_digest: input.configDigest,
      received_at: input.receivedAt !== undefined ? new Date(input.receivedAt).toISOString() : undefined,
    },
  };
}
