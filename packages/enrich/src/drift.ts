import type { KubeObject } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';
import { re } from './actor.js';

interface ManagedFieldsEntry {
  manager?: string;
  subresource?: string;
  fieldsV1?: Record<string, unknown>;
}

/**
 * Whether a managedFields entry says its manager manages the object itself rather than only its
 * status: a write through a subresource (`status`, `scale`), or one owning nothing but `f:status`
 * (Flux's own Kustomization status, Argo CD writing an Application's status), does not make the
 * object GitOps-managed. An entry without `fieldsV1` is taken at its word.
 */
function managesObject(e: ManagedFieldsEntry): boolean {
  if (e.subresource) return false;
  if (!e.fieldsV1 || typeof e.fieldsV1 !== 'object') return true;
  return Object.keys(e.fieldsV1).some((k) => k !== 'f:status');
}

/**
 * The configured GitOps managers (`actors.gitops[].name`) that manage an object: from the managers
 * of its managedFields (the response carries them; the stored state does not), and from the tools'
 * own tracking marks, which survive an audit policy with `omitManagedFields` (Argo CD's
 * `argocd.argoproj.io/tracking-id` / `…/instance`, Flux's `kustomize.toolkit.fluxcd.io/*` and
 * `helm.toolkit.fluxcd.io/*` labels) — the latter only for GitOps managers that are configured.
 * Who *wrote* is never read from here (see `classifyActor`).
 */
export function gitopsManagersOf(object: KubeObject | undefined, config: CrtrailConfig): Set<string> {
  const found = new Set<string>();
  const meta = object?.metadata;
  if (!meta) return found;
  const configured = new Set(config.actors.gitops.map((g) => g.name));
  const labels = meta.labels ?? {};
  const annotations = meta.annotations ?? {};
  if (
    configured.has('argocd') &&
    (annotations['argocd.argoproj.io/tracking-id'] ||
      labels['argocd.argoproj.io/instance'] ||
      annotations['argocd.argoproj.io/instance'])
  )
    found.add('argocd');
  if (
    configured.has('flux') &&
    Object.keys(labels).some(
      (k) => k.startsWith('kustomize.toolkit.fluxcd.io/') || k.startsWith('helm.toolkit.fluxcd.io/'),
    )
  )
    found.add('flux');
  for (const e of (meta.managedFields ?? []) as ManagedFieldsEntry[]) {
    if (typeof e.manager !== 'string' || !managesObject(e)) continue;
    for (const g of config.actors.gitops) if (g.manager && re(g.manager).test(e.manager)) found.add(g.name);
  }
  return found;
}

const under = (path: string, top: string) => path === top || path.startsWith(`${top}/`);

/**
 * The class of a change for drift: a `delete` whose paths are all metadata (the write removing the
 * last finalizer) counts as metadata-only; a `mixed` write whose paths are only status and metadata (an
 * operator writing status on the main resource — Argo CD Applications have no status subresource —
 * and adding its finalizer in the same PUT) counts as metadata-only, its status part as nobody's.
 */
function driftClass(change: { kind: string; paths?: string[] | undefined }): string {
  // Removing the last finalizer ends the object (kind delete) but changed only metadata: judged as such.
  if (
    change.kind === 'delete' &&
    change.paths &&
    change.paths.length > 0 &&
    change.paths.every((p) => under(p, '/metadata'))
  )
    return 'metadata';
  if (change.kind !== 'mixed' || !change.paths) return change.kind;
  const rest = change.paths.filter((p) => !under(p, '/status'));
  if (rest.length === 0) return 'status';
  return rest.every((p) => under(p, '/metadata')) ? 'metadata' : 'mixed';
}

/**
 * Out-of-band change of a GitOps-managed object: an object that a configured GitOps manager
 * manages (before or after the write) had its stored state changed by a writer — judged by the
 * request, see `classifyActor` — that is not a GitOps tool.
 *
 * | write | drift |
 * |---|---|
 * | failed, dry run, no-op, create | no: nothing out-of-band was stored |
 * | by a GitOps tool (`gitops` actor) | no: its own write |
 * | status (`change.kind: status`) by anyone | no: controllers own status, GitOps tools do not |
 * | metadata only (finalizers, annotations, labels; also status + metadata) by a controller or system component | no: routine |
 * | metadata only by a person, a service-account token from kubectl & co., or unknown | yes |
 * | spec / mixed / delete by anyone else | yes |
 */
export function detectDrift(
  previous: KubeObject | undefined,
  next: KubeObject | undefined,
  actor: { kind: string }, // an Actor, or the RecordActor a history kept
  change: { kind: string; dry_run: boolean; paths?: string[] | undefined },
  succeeded: boolean,
  config: CrtrailConfig,
): boolean {
  if (!succeeded || change.dry_run || actor.kind === 'gitops') return false;
  const kind = driftClass(change);
  if (kind === 'status' || kind === 'noop' || kind === 'create') return false;
  if (gitopsManagersOf(previous, config).size === 0 && gitopsManagersOf(next, config).size === 0) return false;
  if (kind === 'metadata') return actor.kind === 'human' || actor.kind === 'serviceaccount' || actor.kind === 'unknown';
  return true;
}
