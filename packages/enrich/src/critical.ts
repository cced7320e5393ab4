import type { CrtrailConfig } from '@crtrail/config';

export interface ObjectTarget {
  group: string;
  resource?: string | undefined;
  kind?: string | undefined;
}

/** `spec.containers[*].image` → ['spec', 'containers', '*', 'image'] (JSON-pointer segments, `*` = any). */
export function dotPathSegments(path: string): string[] {
  // Config paths may be JSON pointers too (the schema accepts both forms).
  if (path.startsWith('/')) return pointerSegments(path);
  return path.replace(/\[(\*|\d+)\]/g, '.$1').split('.').filter(Boolean);
}

function pointerSegments(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A changed path hits a critical one when either contains the other (setting `/spec` wholesale changes `spec.x`). */
function overlaps(changed: string[], critical: string[]): boolean {
  const n = Math.min(changed.length, critical.length);
  for (let i = 0; i < n; i++) if (critical[i] !== '*' && critical[i] !== changed[i]) return false;
  return true;
}

export function appliesTo(rule: { group: string; kind?: string | undefined; resource?: string | undefined }, t: ObjectTarget): boolean {
  if (rule.group !== t.group) return false;
  if (rule.kind && rule.kind !== t.kind) return false;
  if (rule.resource && rule.resource !== t.resource) return false;
  return true;
}

/** The changed JSON pointers that touch a configured critical field of this kind of object. */
export function criticalPaths(target: ObjectTarget, changedPaths: string[], config: CrtrailConfig): string[] {
  const rules = config.critical.filter((r) => appliesTo(r, target));
  if (rules.length === 0) return [];
  const critical = rules.flatMap((r) => r.paths.map(dotPathSegments));
  return changedPaths.filter((p) => {
    const segs = pointerSegments(p);
    return critical.some((c) => overlaps(segs, c));
  });
}
