import type { AuditEvent, KubeObject } from '@crtrail/audit';
import type { CrtrailConfig } from '@crtrail/config';

export type ActorKind = 'human' | 'serviceaccount' | 'controller' | 'gitops' | 'system' | 'unknown';

export interface Actor {
  kind: ActorKind;
  /** The effective actor: the impersonated user when there is one. */
  name: string;
  tool: string;
}

const cache = new Map<string, RegExp>();
/** Config regexes are compiled once (config objects are frozen and live for the process). */
export function re(source: string): RegExp {
  let r = cache.get(source);
  if (!r) cache.set(source, (r = new RegExp(source)));
  return r;
}

/**
 * The field manager of this write: the `fieldManager` query parameter when the client set one,
 * else the newest entry of the response's managedFields (the apiserver stamps the writer's entry
 * with the write's time).
 */
export function fieldManagerOf(event: AuditEvent, object: KubeObject | undefined): string {
  const q = event.requestURI.indexOf('?');
  if (q >= 0) {
    const m = new URLSearchParams(event.requestURI.slice(q + 1)).get('fieldManager');
    if (m) return m;
  }
  let best: { manager?: string; time?: string } | undefined;
  for (const e of (object?.metadata?.managedFields ?? []) as Array<{ manager?: string; time?: string }>) {
    if (!best || (e.time ?? '') > (best.time ?? '')) best = e;
  }
  return best?.manager ?? '';
}

function matches(rule: { userAgent?: string | undefined; manager?: string | undefined; username?: string | undefined }, ua: string, manager: string, username: string, any: boolean): boolean {
  const checks: boolean[] = [];
  if (rule.userAgent) checks.push(re(rule.userAgent).test(ua));
  if (rule.manager) checks.push(re(rule.manager).test(manager));
  if (rule.username) checks.push(re(rule.username).test(username));
  if (checks.length === 0) return false;
  return any ? checks.some(Boolean) : checks.every(Boolean);
}

/**
 * Who really did this, with what. Order of the decision: no identity or anonymous → unknown; a
 * GitOps manager (by userAgent, field manager or service account) → gitops; a configured controller
 * → controller; a service account → controller, unless it used an interactive client (kubectl, oc,
 * k9s…: a person holding its token) → serviceaccount; other `system:` identities → system; the rest
 * are people → human.
 */
export function classifyActor(event: AuditEvent, object: KubeObject | undefined, config: CrtrailConfig): Actor {
  const authenticated = event.user.username ?? '';
  const name = event.impersonatedUser?.username || authenticated || 'unknown';
  const ua = event.userAgent ?? '';
  const manager = fieldManagerOf(event, object);
  const rule = config.actors.tools.find((t) => matches(t, ua, manager, name, false));
  let tool = rule?.tool ?? (ua.split('/')[0] || 'unknown');
  const gitops = config.actors.gitops.find((g) => matches(g, ua, manager, name, true));
  let kind: ActorKind;
  if (name === 'unknown' || name === 'system:anonymous') kind = 'unknown';
  else if (gitops) {
    kind = 'gitops';
    tool = gitops.name;
  } else if (config.actors.controllers.some((c) => re(c).test(name))) kind = 'controller';
  else if (name.startsWith('system:serviceaccount:')) kind = config.actors.interactive.some((i) => re(i).test(ua)) ? 'serviceaccount' : 'controller';
  else if (name.startsWith('system:')) kind = 'system';
  else kind = 'human';
  return { kind, name, tool };
}
