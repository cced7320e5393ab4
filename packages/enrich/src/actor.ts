import type { AuditEvent, KubeObject } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';

export type ActorKind = 'human' | 'serviceaccount' | 'controller' | 'gitops' | 'system' | 'unknown';

export interface Actor {
  kind: ActorKind;
  /** The effective actor: the impersonated user when there is one. */
  name: string;
  tool: string;
  /** The field manager of this write, as the apiserver recorded it (see {@link requestFieldManager}); absent when none. */
  manager?: string;
  /** The authenticated user who impersonated `name` (`kubectl --as`); absent without impersonation. */
  impersonator?: string;
}

const cache = new Map<string, RegExp>();
/** Config regexes are compiled once (config objects are frozen and live for the process). */
export function re(source: string): RegExp {
  let r = cache.get(source);
  if (!r) cache.set(source, (r = new RegExp(source)));
  return r;
}

/** `validation.FieldManagerMaxLength` in k8s.io/apimachinery: the apiserver cuts longer managers. */
const FIELD_MANAGER_MAX_BYTES = 128;
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/**
 * The manager the apiserver records for a write that names none: the userAgent up to its first `/`,
 * unprintable characters dropped, cut at 128 bytes (`prefixFromUserAgent` in k8s.io/apiserver
 * endpoints/handlers). `kubectl/v1.17.3 (darwin/amd64) kubernetes/06ad960` → `kubectl`,
 * `argocd-application-controller/v2.13.1+af54ef8 (…)` → `argocd-application-controller`.
 */
export function managerFromUserAgent(userAgent: string): string {
  let out = '';
  let bytes = 0;
  for (const ch of userAgent.split('/')[0] ?? '') {
    if (!PRINTABLE.test(ch)) continue;
    const n = Buffer.byteLength(ch);
    if (bytes + n > FIELD_MANAGER_MAX_BYTES) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/**
 * The field manager of THIS request: the `fieldManager` query parameter of its requestURI
 * (URL-decoded), else the apiserver's default for its userAgent. Never the object's managedFields:
 * their newest entry may be another writer's (entry times have one-second resolution, and status,
 * finalizer and naming writes by controllers land in the same second as an apply).
 */
export function requestFieldManager(event: AuditEvent): string {
  const q = event.requestURI.indexOf('?');
  if (q >= 0) {
    let param: string | null = null;
    try {
      param = new URLSearchParams(event.requestURI.slice(q + 1)).get('fieldManager');
    } catch {
      param = null; // a malformed query string names no manager
    }
    if (param) return param;
  }
  return managerFromUserAgent(event.userAgent ?? '');
}

function matches(
  rule: { userAgent?: string | undefined; manager?: string | undefined },
  ua: string,
  manager: string,
): boolean {
  const checks: boolean[] = [];
  if (rule.userAgent) checks.push(re(rule.userAgent).test(ua));
  if (rule.manager) checks.push(re(rule.manager).test(manager));
  return checks.length > 0 && checks.every(Boolean);
}

const SERVICE_ACCOUNT = 'system:serviceaccount:';

/**
 * Users that are the platform itself: Kubernetes' own (`system:`) and EKS's control-plane components
 * (`eks:addon-manager`, `eks:node-manager`, `eks:certificate-controller`, …). EKS reserves the
 * `eks:` prefix (an access entry's username may not start with it), so no person or workload of the
 * cluster's owner carries it: without this they were classed `human`.
 */
const PLATFORM_PREFIXES = ['system:', 'eks:'];

/** The configured GitOps manager this request comes from, judged by the request's identity only. */
function gitopsOf(
  config: CrtrailConfig,
  effective: string,
  authenticated: string,
  ua: string,
  manager: string,
): string | undefined {
  const serviceAccount = effective.startsWith(SERVICE_ACCOUNT);
  const g = config.actors.gitops.find(
    (x) =>
      (x.username !== undefined && (re(x.username).test(effective) || re(x.username).test(authenticated))) ||
      // By userAgent or field manager only when a service account writes: a person who runs
      // `kubectl apply --server-side --field-manager=kustomize-controller` is still a person.
      (serviceAccount &&
        ((x.userAgent !== undefined && re(x.userAgent).test(ua)) ||
          (x.manager !== undefined && re(x.manager).test(manager)))),
  );
  return g?.name;
}

/**
 * Who made this write, with what — from the request's own identity (authenticated user,
 * impersonated user, userAgent, field manager), never from the object's managedFields.
 *
 * First matching row wins (`user` is the effective user: the impersonated one if any):
 *
 * | # | user | userAgent / field manager | kind | tool |
 * |---|---|---|---|---|
 * | 1 | none, `system:anonymous` | any | `unknown` | userAgent |
 * | 2 | `system:serviceaccount:*` not in `actors.controllers` | interactive (`kubectl/`, `oc/`, `k9s/`, Lens, browser) | `serviceaccount` (a person holding the token — a GitOps controller's too) | `kubectl`, … |
 * | 3 | a GitOps account (`actors.gitops[].username`), or impersonated by one, or a service account writing with a GitOps userAgent/manager (`kustomize-controller/…`, `fieldManager=kustomize-controller`, `argocd-application-controller/…`, `fieldManager=argocd-controller`) | non-interactive | `gitops` | the GitOps manager's name: `flux`, `argocd` |
 * | 4 | matches `actors.controllers` | any | `controller` | userAgent |
 * | 5 | other `system:serviceaccount:*` (`cert-manager:cert-manager`, `kube-system:replicaset-controller`, operators) | non-interactive | `controller` | userAgent: `cert-manager`, `strimzi-cluster-operator`, … |
 * | 6 | other `system:*` (`system:apiserver` — the CRD naming/establishing controllers —, `system:kube-controller-manager`, `system:kube-scheduler`, `system:node:*`, `system:admin`), and a managed control plane's own components (EKS: `eks:*`, such as `eks:addon-manager`, `eks:node-manager`) | any | `system` | `kube-apiserver`, `kubelet`, `eks-addon-manager`, … |
 * | 7 | anyone else (`alice@example.com`, `oidc:alice`, `kube:admin`) | any (kubectl, k9s, Lens, Helm, Terraform) | `human` | userAgent / field manager |
 *
 * The tool: the first `actors.tools` rule whose userAgent and manager patterns all match (so
 * `fieldManager=kubectl-edit` gives `kubectl-edit`), else the userAgent's product name.
 * Impersonation: `kubectl --as=bob` by `admin` is actor `bob` (kind by bob's identity) with
 * `impersonator: admin`.
 */
export function classifyActor(event: AuditEvent, config: CrtrailConfig): Actor;
/** @deprecated The object is not read (who wrote comes from the request): call `classifyActor(event, config)`. */
export function classifyActor(event: AuditEvent, object: KubeObject | undefined, config: CrtrailConfig): Actor;
export function classifyActor(
  event: AuditEvent,
  ...rest: [CrtrailConfig] | [KubeObject | undefined, CrtrailConfig]
): Actor {
  const config = (rest.length === 1 ? rest[0] : rest[1]) as CrtrailConfig;
  const authenticated = event.user?.username ?? '';
  const impersonated = event.impersonatedUser?.username ?? '';
  const name = impersonated || authenticated || 'unknown';
  const ua = event.userAgent ?? '';
  const manager = requestFieldManager(event);
  const rule = config.actors.tools.find((t) => matches(t, ua, manager));
  let tool = rule?.tool ?? (managerFromUserAgent(ua) || manager || 'unknown');
  const serviceAccount = name.startsWith(SERVICE_ACCOUNT);
  const configuredController = config.actors.controllers.some((c) => re(c).test(name));
  const interactive = config.actors.interactive.some((i) => re(i).test(ua));
  let kind: ActorKind;
  let gitops: string | undefined;
  if (name === 'unknown' || name === 'system:anonymous') kind = 'unknown';
  else if (serviceAccount && interactive && !configuredController) kind = 'serviceaccount';
  else if (!interactive && (gitops = gitopsOf(config, name, authenticated, ua, manager))) {
    kind = 'gitops';
    tool = gitops;
  } else if (configuredController || serviceAccount) kind = 'controller';
  else if (PLATFORM_PREFIXES.some((p) => name.startsWith(p))) kind = 'system';
  else kind = 'human';
  const actor: Actor = { kind, name, tool };
  if (manager) actor.manager = manager;
  if (impersonated && authenticated && impersonated !== authenticated) actor.impersonator = authenticated;
  return actor;
}
