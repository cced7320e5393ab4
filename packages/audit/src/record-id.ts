import { createHash } from 'node:crypto';

/**
 * Deterministic Elasticsearch `_id` of the record for one mutation: cluster + auditID, plus the
 * object's uid (or name) when one request wrote several objects (deletecollection). auditIDs are
 * not unique across clusters (a client may set `Audit-ID`), so the cluster is always part of it.
 */
export function recordIdOf(cluster: string, auditID: string, objectDiscriminator?: string): string {
  const hash = createHash('sha256');
  hash.update(cluster).update('\n').update(auditID);
  if (objectDiscriminator !== undefined) hash.update('\n').update(objectDiscriminator);
  return hash.digest('base64url').slice(0, 32);
}

/** Key of one object's history: cluster + group + resource + namespace + name. */
export interface ObjectKey {
  cluster: string;
  group: string;
  resource: string;
  namespace: string;
  name: string;
}

export function objectKeyString(key: ObjectKey): string {
  return [key.cluster, key.group, key.resource, key.namespace, key.name].join('/');
}
