/**
 * What alert rules and payloads read from a stored change record. Taken from the record as the worker
 * wrote it to Elasticsearch — already redacted — and never from the event's bodies: an alert can only
 * show what the audit trail itself shows.
 */

/** One field change as a record holds it (`crtrail.change.ops[]`). */
export interface AlertOp {
  op: string;
  path: string;
  old?: unknown;
  new?: unknown;
}

/** The facts of one stored record that alerts decide by and show. */
export interface RecordFacts {
  recordId: string;
  cluster: string;
  /** The event's `stageTimestamp` (ISO). */
  time: string;
  verb: string;
  outcome: 'success' | 'failure';
  statusCode?: number | undefined;
  object: {
    group: string;
    version?: string | undefined;
    kind?: string | undefined;
    resource?: string | undefined;
    namespace?: string | undefined;
    name?: string | undefined;
    uid?: string | undefined;
    /** `cluster/group/resource/namespace/name` (`crtrail.object.key`), when the record has a name and a resource. */
    key?: string | undefined;
  };
  actor: {
    name: string;
    kind: string;
    tool?: string | undefined;
    manager?: string | undefined;
    impersonator?: string | undefined;
    sourceIP?: string | undefined;
    userAgent?: string | undefined;
  };
  change: {
    kind: string;
    ops: AlertOp[];
    paths: string[];
    critical: boolean;
    criticalPaths: string[];
    drift: boolean;
    dryRun: boolean;
  };
}

type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);

/**
 * The facts of a record from its Elasticsearch document (as `buildRecord` makes it) and its `_id`.
 * Missing fields become empty values rather than errors: an alert about a partly known write is still
 * worth sending.
 */
export function recordFacts(recordId: string, doc: Readonly<Obj>): RecordFacts {
  const event = obj(doc.event);
  const crtrail = obj(doc.crtrail);
  const object = obj(crtrail.object);
  const actor = obj(crtrail.actor);
  const change = obj(crtrail.change);
  const audit = obj(obj(doc.kubernetes).audit);
  const code = obj(audit.responseStatus).code;
  const ops = Array.isArray(change.ops)
    ? (change.ops as unknown[]).map(obj).filter((o) => typeof o.path === 'string')
    : [];
  return {
    recordId,
    cluster: str(obj(obj(doc.orchestrator).cluster).name) ?? '',
    time: str(doc['@timestamp']) ?? '',
    verb: str(event.action) ?? str(audit.verb) ?? '',
    outcome: event.outcome === 'failure' ? 'failure' : 'success',
    statusCode: typeof code === 'number' ? code : undefined,
    object: {
      group: str(object.group) ?? '',
      version: str(object.version),
      kind: str(object.kind),
      resource: str(object.resource),
      namespace: str(object.namespace),
      name: str(object.name),
      uid: str(object.uid),
      key: str(object.key),
    },
    actor: {
      name: str(actor.name) ?? str(obj(doc.user).name) ?? 'unknown',
      kind: str(actor.kind) ?? 'unknown',
      tool: str(actor.tool),
      manager: str(actor.manager),
      impersonator: str(actor.impersonator),
      sourceIP: str(obj(doc.source).ip) ?? strings(audit.sourceIPs)[0],
      userAgent: str(audit.userAgent),
    },
    change: {
      kind: str(change.kind) ?? 'unknown',
      ops: ops.map((o) => ({
        op: String(o.op),
        path: o.path as string,
        ...('old' in o ? { old: o.old } : {}),
        ...('new' in o ? { new: o.new } : {}),
      })),
      paths: strings(change.paths),
      critical: change.critical === true,
      criticalPaths: strings(change.critical_paths),
      drift: change.drift === true,
      dryRun: change.dry_run === true,
    },
  };
}

/** A stable key of the object a record is about (cluster, group, resource, namespace, name): alerts are grouped by it. */
export function objectKeyOf(f: RecordFacts): string {
  return [
    f.cluster,
    f.object.group,
    f.object.resource ?? f.object.kind ?? '',
    f.object.namespace ?? '',
    f.object.name ?? '',
  ].join('/');
}
