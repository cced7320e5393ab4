import { responseCode } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';
import { classifyActor, criticalFor, detectDrift, subjectKind } from '@crtrail/enrich';
import type { PlannedRecord, PlannedRepair } from '@crtrail/diff';
import type { RecordActor, RecordChange } from '@crtrail/store';
import type { AuditEvent, KubeObject } from '@crtrail/audit';

export interface Enricher {
  /**
   * `kind`: the object's kind as the record states it (see {@link subjectKind}). The actor is the
   * one {@link actorOf} gave the planner (`r.actor`), classified from the request when absent.
   */
  (r: PlannedRecord<RecordActor>): { actor: RecordActor; change: RecordChange; kind: string | undefined };
  /** The actor of a write (from the request alone; the object is not read), kept in the history so a later repair can re-enrich its record. */
  actorOf(event: AuditEvent, object?: KubeObject | undefined): RecordActor;
  /** critical/drift again for a repaired record (its kind and paths changed). */
  repair(r: PlannedRepair): Pick<RecordChange, 'critical' | 'critical_paths' | 'drift'>;
}

/** The kinds learned for a group/resource (the resource → kind table redaction keeps), if any. */
export type KindsOf = (group: string, resource: string) => readonly string[];

/**
 * Who did it (actor, tool), whether it was out-of-band (GitOps drift), and whether it touched a
 * critical field. Which critical rules apply is decided by the objectRef's group/resource and the
 * object's kind — taken from the object, its predecessor, or `kindsOf` when the answer was a `Status`
 * (a delete, a denied or refused write): the rule follows the object, not the shape of the answer.
 */
export function createEnricher(config: CrtrailConfig, kindsOf: KindsOf = () => []): Enricher {
  const enrich = ((r: PlannedRecord<RecordActor>) => {
    // Who wrote: the request's identity. Who manages the object (drift): its managedFields and marks.
    const actor = r.actor ?? classifyActor(r.event, config);
    const ref = r.event.objectRef ?? {};
    const group = ref.apiGroup ?? '';
    const kind = subjectKind([r.object, r.previous], ref.resource ? kindsOf(group, ref.resource) : []);
    const critical = criticalFor({ group, resource: ref.resource, kind }, r.change, config);
    const drift = detectDrift(r.previous, r.object, actor, r.change, responseCode(r.event) < 400, config);
    return { actor, change: { ...r.change, critical: critical.length > 0, critical_paths: critical, drift }, kind };
  }) as Enricher;
  enrich.actorOf = (event) => classifyActor(event, config);
  enrich.repair = (r) => {
    // Histories written before the actor came from the request still hold the old classification; it is what the record shows.
    const actor = r.meta?.actor as RecordActor | undefined;
    // A failed write's subject is only its request: the kind comes from the state it was diffed against, as when first enriched.
    const critical = criticalFor(
      {
        group: r.group,
        resource: r.resource,
        kind: subjectKind([r.object, r.previous], r.resource ? kindsOf(r.group, r.resource) : []),
      },
      r.change,
      config,
    );
    const change = { kind: r.change.kind, dry_run: r.dryRun, paths: r.change.paths };
    const drift = actor ? detectDrift(r.previous, r.object, actor, change, !r.failed, config) : false;
    return { critical: critical.length > 0, critical_paths: critical, drift };
  };
  return enrich;
}
