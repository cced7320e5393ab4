import { responseCode } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';
import { classifyActor, criticalPaths, detectDrift } from '@crtrail/enrich';
import type { RecordActor, RecordChange } from '@crtrail/store';
import type { TrackedRecord, TrackedRepair } from './tracker.js';
import type { AuditEvent, KubeObject } from '@crtrail/audit';

export interface Enricher {
  (r: TrackedRecord): { actor: RecordActor; change: RecordChange };
  /** The actor of a write (from the request alone; the object is not read), kept in the history so a later repair can re-enrich its record. */
  actorOf(event: AuditEvent, object?: KubeObject | undefined): RecordActor;
  /** critical/drift again for a repaired record (its kind and paths changed). */
  repair(r: TrackedRepair): Pick<RecordChange, 'critical' | 'critical_paths' | 'drift'>;
}

/** Who did it (actor, tool), whether it was out-of-band (GitOps drift), and whether it touched a critical field. */
export function createEnricher(config: CrtrailConfig): Enricher {
  const kindOf = (o: KubeObject | undefined) => (typeof o?.kind === 'string' ? o.kind : undefined);
  const enrich = ((r: TrackedRecord) => {
    const object = r.object ?? r.previous;
    // Who wrote: the request's identity. Who manages the object (drift): its managedFields and marks.
    const actor = classifyActor(r.event, config);
    const ref = r.event.objectRef ?? {};
    const critical = criticalPaths({ group: ref.apiGroup ?? '', resource: ref.resource, kind: kindOf(object) }, r.change.paths, config);
    const drift = detectDrift(r.previous, r.object, actor, r.change, responseCode(r.event) < 400, config);
    return { actor, change: { ...r.change, critical: critical.length > 0, critical_paths: critical, drift } };
  }) as Enricher;
  enrich.actorOf = (event) => classifyActor(event, config);
  enrich.repair = (r) => {
    // Histories written before the actor came from the request still hold the old classification; it is what the record shows.
    const actor = r.meta?.actor as RecordActor | undefined;
    // A failed write's subject is only its request: the kind comes from the state it was diffed against, as when first enriched.
    const critical = criticalPaths({ group: r.group, resource: r.resource, kind: kindOf(r.object) ?? kindOf(r.previous) }, r.change.paths, config);
    const change = { kind: r.change.kind, dry_run: r.dryRun, paths: r.change.paths };
    const drift = actor ? detectDrift(r.previous, r.object, actor, change, !r.failed, config) : false;
    return { critical: critical.length > 0, critical_paths: critical, drift };
  };
  return enrich;
}
