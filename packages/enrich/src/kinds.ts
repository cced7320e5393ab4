import { isObject, responseCode, type AuditEvent } from '@crtrail/audit';

/** One fact of the resource → kind table: objects of `group`/`resource` are of kind `kind`. */
export interface KindEntry {
  group: string;
  resource: string;
  kind: string;
}

export interface ResourceRef {
  group: string;
  resource: string;
}

/**
 * What redaction asks about an objectRef: the kinds seen for that group/resource. Several are
 * possible (another cluster, a CRD recreated with another kind) and all of them count: a kind
 * only ever adds redaction, so a stale or foreign entry can never make a secret leak.
 */
export interface KindTable {
  kindsOf(group: string, resource: string): readonly string[];
}

/**
 * A {@link KindTable} that can learn: `update` stores what a batch taught and loads what the batch
 * needs and the table does not hold yet (so lookups during the batch are synchronous).
 */
export interface KindStore extends KindTable {
  update(taught: KindEntry[], wanted: ResourceRef[]): Promise<void>;
}

/** The field of a group/resource in the table (`db.example.com/databases`). */
export const kindField = (group: string, resource: string): string => `${group}/${resource}`;

const CRD_GROUP = 'apiextensions.k8s.io';
const CRD_RESOURCE = 'customresourcedefinitions';

/** `db.example.com/v1` → `db.example.com`; `v1` → `` (core). */
export function groupOfApiVersion(apiVersion: unknown): string | undefined {
  if (typeof apiVersion !== 'string') return undefined;
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** The kind a body states, when its apiVersion is of `group` (a `Status`, `DeleteOptions` or `Scale` is not). */
export function bodyKind(body: unknown, group: string): string | undefined {
  if (!isObject(body) || typeof body.kind !== 'string' || body.kind === '') return undefined;
  return groupOfApiVersion(body.apiVersion) === group ? body.kind : undefined;
}

/** A body's objects: the items of a List (deletecollection), else the body itself. */
function objectsOf(body: unknown): unknown[] {
  if (isObject(body) && Array.isArray(body.items)) return body.items;
  return body === undefined ? [] : [body];
}

function crdEntry(crd: unknown): KindEntry | undefined {
  if (!isObject(crd) || !isObject(crd.spec) || !isObject(crd.spec.names)) return undefined;
  const { group } = crd.spec;
  const { plural, kind } = crd.spec.names;
  if (typeof group !== 'string' || typeof plural !== 'string' || typeof kind !== 'string' || !plural || !kind)
    return undefined;
  return { group, resource: plural, kind };
}

/**
 * What one event teaches the table. Only bodies the apiserver vouched for count: the response of a
 * successful write, and the request of a successful create or update (which the apiserver checked
 * against the resource). Refused requests, patch documents and annotations are what a client wrote
 * and could name any kind. A CRD write teaches the kind its `spec.names` declare for its plural.
 */
export function kindsTaught(event: AuditEvent): KindEntry[] {
  const ref = event.objectRef;
  if (!ref?.resource || responseCode(event) >= 400) return [];
  // Subresources other than status answer other kinds (Scale, Eviction, …): not the resource's.
  if (ref.subresource && ref.subresource !== 'status') return [];
  const group = ref.apiGroup ?? '';
  const bodies = [...objectsOf(event.responseObject)];
  if (event.verb === 'create' || event.verb === 'update') bodies.push(event.requestObject);
  const out: KindEntry[] = [];
  if (group === CRD_GROUP && ref.resource === CRD_RESOURCE) {
    for (const b of bodies) {
      const e = crdEntry(b);
      if (e) out.push(e);
    }
    return out;
  }
  for (const b of bodies) {
    const kind = bodyKind(b, group);
    if (kind) out.push({ group, resource: ref.resource, kind });
  }
  // The List of a deletecollection names the item kind as `<Kind>List`.
  const list = event.responseObject;
  if (isObject(list) && Array.isArray(list.items)) {
    const kind = bodyKind(list, group);
    if (kind && kind.endsWith('List') && kind.length > 4)
      out.push({ group, resource: ref.resource, kind: kind.slice(0, -4) });
  }
  return out;
}

/**
 * Lower-case names a kind of this resource could have: the plural itself and its singular forms
 * (`vaultsecrets` → `vaultsecret`, `policies` → `policy`, `boxes` → `box`). Used when no kind is
 * known, to match secret-like kind patterns and configured kinds against the resource name.
 */
export function resourceNames(resource: string): string[] {
  const r = resource.toLowerCase();
  const names = new Set([r]);
  if (r.endsWith('ies')) names.add(`${r.slice(0, -3)}y`);
  if (r.endsWith('es')) names.add(r.slice(0, -2));
  if (r.endsWith('s')) names.add(r.slice(0, -1));
  return [...names];
}

/** Learns what a batch teaches and loads the kinds its resources need, before it is redacted. */
export async function learnKinds(events: readonly AuditEvent[], store: KindStore): Promise<void> {
  const taught = events.flatMap(kindsTaught);
  const wanted: ResourceRef[] = [];
  for (const e of events)
    if (e.objectRef?.resource) wanted.push({ group: e.objectRef.apiGroup ?? '', resource: e.objectRef.resource });
  await store.update(taught, wanted);
}
