import { parsePointer, pathToPointer, pathTokens } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';

export interface ObjectTarget {
  group: string;
  resource?: string | undefined;
  kind?: string | undefined;
}

/** A changed path hits a critical one when either contains the other (setting `/spec` wholesale changes `spec.x`). */
function overlaps(changed: string[], critical: string[]): boolean {
  const n = Math.min(changed.length, critical.length);
  for (let i = 0; i < n; i++) if (critical[i] !== '*' && critical[i] !== changed[i]) return false;
  return true;
}

export function appliesTo(
  rule: { group: string; kind?: string | undefined; resource?: string | undefined },
  t: ObjectTarget,
): boolean {
  if (rule.group !== t.group) return false;
  if (rule.kind && rule.kind !== t.kind) return false;
  if (rule.resource && rule.resource !== t.resource) return false;
  return true;
}

/** The changed JSON pointers that touch a configured critical field of this kind of object. */
export function criticalPaths(target: ObjectTarget, changedPaths: string[], config: CrtrailConfig): string[] {
  const rules = config.critical.filter((r) => appliesTo(r, target));
  if (rules.length === 0) return [];
  const critical = rules.flatMap((r) => r.paths.map(pathTokens));
  return changedPaths.filter((p) => {
    const segs = parsePointer(p);
    return critical.some((c) => overlaps(segs, c));
  });
}

/**
 * The critical paths of a change: the changed paths that touch a critical field of this kind of
 * object — and for a delete of an object some critical rule covers, those fields themselves when no
 * removed field was listed (a delete answered with a `Status` and no known state): deleting a critical
 * object removes every critical field it had.
 */
export function criticalFor(
  target: ObjectTarget,
  change: { kind: string; paths: string[] },
  config: CrtrailConfig,
): string[] {
  const hit = criticalPaths(target, change.paths, config);
  if (change.kind !== 'delete' || hit.length > 0) return hit;
  return [
    ...new Set(
      config.critical.filter((r) => appliesTo(r, target)).flatMap((r) => r.paths.map((p) => pathToPointer(p))),
    ),
  ];
}

/**
 * The kind a record is about: the object's own, else its predecessor's (a failed write or a delete
 * answers a `Status`), else the one kind learned for its group/resource (the resource → kind table):
 * never `Status` or a `…List`, which describe the answer, not the object.
 */
export function subjectKind(
  candidates: Array<{ kind?: unknown } | undefined>,
  learned: readonly string[] = [],
): string | undefined {
  for (const c of candidates) {
    const k = c?.kind;
    if (typeof k === 'string' && k !== 'Status' && !k.endsWith('List')) return k;
  }
  return learned.length === 1 ? learned[0] : undefined;
}
