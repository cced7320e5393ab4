import type { KubeObject } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';
import { re, type Actor } from './actor.js';

/** Which GitOps tool manages an object, by its tracking labels/annotations or a GitOps field manager. */
export function gitopsManagerOf(object: KubeObject | undefined, config: CrtrailConfig): string | undefined {
  const meta = object?.metadata;
  if (!meta) return undefined;
  const labels = meta.labels ?? {};
  const annotations = meta.annotations ?? {};
  if (annotations['argocd.argoproj.io/tracking-id'] || labels['argocd.argoproj.io/instance'] || annotations['argocd.argoproj.io/instance']) return 'argocd';
  if (Object.keys(labels).some((k) => k.startsWith('kustomize.toolkit.fluxcd.io/') || k.startsWith('helm.toolkit.fluxcd.io/'))) return 'flux';
  for (const e of (meta.managedFields ?? []) as Array<{ manager?: string }>) {
    const g = config.actors.gitops.find((x) => x.manager && re(x.manager).test(e.manager ?? ''));
    if (g) return g.name;
  }
  return undefined;
}

/**
 * Out-of-band change of a GitOps-managed object: its stored state changed, and not by a GitOps
 * tool. Status writes and no-ops are never drift (controllers own status); metadata-only changes are
 * drift only when a person or a service account token made them (controllers add finalizers and
 * annotations routinely); dry runs and failed writes changed nothing.
 */
export function detectDrift(
  previous: KubeObject | undefined,
  next: KubeObject | undefined,
  actor: Actor,
  change: { kind: string; dry_run: boolean; ops?: ReadonlyArray<{ path: string }> },
  succeeded: boolean,
  config: CrtrailConfig,
): boolean {
  if (!succeeded || change.dry_run || actor.kind === 'gitops') return false;
  if (!gitopsManagerOf(previous, config) && !gitopsManagerOf(next, config)) return false;
  if (change.kind === 'status' || change.kind === 'noop' || change.kind === 'create') return false;
  // Removing the last finalizer ends the object (kind delete) but changed only metadata: judged as such.
  const metadataOnly = change.kind === 'metadata' || (change.kind === 'delete' && !!change.ops?.length && change.ops.every((o) => o.path.startsWith('/metadata/')));
  if (metadataOnly) return actor.kind === 'human' || actor.kind === 'serviceaccount' || actor.kind === 'unknown';
  return true;
}
