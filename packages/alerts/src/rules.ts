import { createHash } from 'node:crypto';
import { parsePointer, pathTokens } from '@crtrail/audit';
import type { AlertRuleConfig, AlertSinkConfig, CrtrailConfig } from '@crtrail/config';
import { appliesTo, resourceNames } from '@crtrail/enrich';
import type { RecordFacts } from './facts.js';

/** A rule that decides whether one record deserves an alert. */
export interface AlertRule {
  name: string;
  description: string;
  matches(f: RecordFacts): boolean;
}

/** A configured sink with its effective name. */
export interface ResolvedSink {
  name: string;
  type: AlertSinkConfig['type'];
  url: string;
  criticalOnly: boolean;
  /** Rule names this sink takes; undefined: all. */
  rules?: readonly string[] | undefined;
}

/** Where one record's alert goes: a sink and the rules that fired for it (in rule order). */
export interface AlertRoute {
  sink: ResolvedSink;
  rules: AlertRule[];
}

/** The compiled alert configuration: rules and sinks, ready for {@link routeRecord}. */
export interface AlertPlan {
  rules: AlertRule[];
  sinks: ResolvedSink[];
  /** The catch-all rule of sinks with `critical_only: false`. */
  change: AlertRule;
}

/** Either path contains the other (`/spec` set wholesale changes `/spec/x`); `*` matches one segment. */
function overlaps(changed: string[], wanted: string[]): boolean {
  const n = Math.min(changed.length, wanted.length);
  for (let i = 0; i < n; i++) if (wanted[i] !== '*' && wanted[i] !== changed[i]) return false;
  return true;
}

/**
 * Whether the object is of a kind with configured critical fields. A delete or a denied write often has
 * no body, so the record may not know the kind: then the resource's names stand in for it.
 */
export function isCriticalObject(f: RecordFacts, config: Pick<CrtrailConfig, 'critical'>): boolean {
  const target = { group: f.object.group, resource: f.object.resource, kind: f.object.kind };
  return config.critical.some((rule) => {
    if (appliesTo(rule, target)) return true;
    if (f.object.kind !== undefined || !rule.kind || !f.object.resource || rule.group !== target.group) return false;
    if (rule.resource && rule.resource !== f.object.resource) return false;
    return resourceNames(f.object.resource).includes(rule.kind.toLowerCase());
  });
}

/** The DELETE request: it names who deleted (a delete held by finalizers is recorded as `metadata`). */
const isDeleteRequest = (f: RecordFacts): boolean => f.verb === 'delete' || f.verb === 'deletecollection';
/** The write after which the object is gone (for a held delete: the controller removing the last finalizer). */
const isGone = (f: RecordFacts): boolean => f.change.kind === 'delete';

/**
 * The built-in rules (`alerts.default_rules`). Dry runs changed nothing and never alert. A failed
 * attempt counts when it names a critical path, or when it names none (a denied write is logged without
 * its body) on an object with critical fields.
 */
export function defaultRules(config: Pick<CrtrailConfig, 'critical'>): AlertRule[] {
  return [
    {
      name: 'critical-change',
      description: 'a critical field was changed',
      // The end of an object is the delete rule's, not a change of each of its fields.
      matches: (f) => f.outcome === 'success' && f.change.critical && !isDeleteRequest(f) && !isGone(f),
    },
    {
      name: 'gitops-drift',
      description: 'a GitOps-managed object was changed by someone other than its GitOps manager',
      matches: (f) => f.outcome === 'success' && f.change.drift,
    },
    {
      name: 'failed-critical-attempt',
      description: 'a denied or failed attempt to change a critical field',
      matches: (f) =>
        f.outcome === 'failure' && (f.change.critical || (f.change.paths.length === 0 && isCriticalObject(f, config))),
    },
    {
      name: 'critical-delete',
      description: 'an object with critical fields was deleted',
      // Once per delete, on the request (who asked), not again when a finalizer lets the object go.
      matches: (f) => f.outcome === 'success' && isDeleteRequest(f) && isCriticalObject(f, config),
    },
  ];
}

/** A custom rule from `alerts.rules`: every condition it names must hold. */
export function customRule(rule: AlertRuleConfig): AlertRule {
  const namespace = rule.namespace !== undefined ? new RegExp(rule.namespace) : undefined;
  const actor = rule.actor !== undefined ? new RegExp(rule.actor) : undefined;
  const paths = rule.paths?.map(pathTokens);
  return {
    name: rule.name,
    description: rule.description ?? `custom rule ${rule.name}`,
    matches(f) {
      if (rule.group !== undefined && rule.group !== f.object.group) return false;
      if (rule.kind !== undefined && rule.kind !== f.object.kind) return false;
      if (rule.resource !== undefined && rule.resource !== f.object.resource) return false;
      if (namespace && !namespace.test(f.object.namespace ?? '')) return false;
      if (rule.actor_kinds && !rule.actor_kinds.includes(f.actor.kind as (typeof rule.actor_kinds)[number]))
        return false;
      if (actor && !actor.test(f.actor.name)) return false;
      if (rule.verbs && !rule.verbs.includes(f.verb as (typeof rule.verbs)[number])) return false;
      if (rule.outcome !== undefined && rule.outcome !== f.outcome) return false;
      if (rule.critical !== undefined && rule.critical !== f.change.critical) return false;
      if (rule.drift !== undefined && rule.drift !== f.change.drift) return false;
      if (paths && !f.change.paths.some((p) => paths.some((want) => overlaps(parsePointer(p), want)))) return false;
      return true;
    },
  };
}

/** `<type>-<8 hex of the url>`: stable when sinks are reordered, and never the URL itself (a Slack URL is a secret). */
export function sinkName(sink: Pick<AlertSinkConfig, 'type' | 'url' | 'name'>): string {
  return sink.name ?? `${sink.type}-${createHash('sha256').update(sink.url).digest('hex').slice(0, 8)}`;
}

/** Compiles `alerts` of a validated config once (regular expressions, sink names). */
export function alertPlan(config: Pick<CrtrailConfig, 'alerts' | 'critical'>): AlertPlan {
  return {
    rules: [...(config.alerts.default_rules ? defaultRules(config) : []), ...config.alerts.rules.map(customRule)],
    sinks: config.alerts.sinks.map((s) => ({
      name: sinkName(s),
      type: s.type,
      url: s.url,
      criticalOnly: s.critical_only,
      rules: s.rules,
    })),
    change: { name: 'change', description: 'a change was recorded', matches: () => true },
  };
}

/**
 * Which sinks get an alert for this record, and for which rules. A dry run never alerts (nothing was
 * stored in the cluster); a sink with `critical_only: false` also gets records no rule fired for.
 */
export function routeRecord(f: RecordFacts, plan: AlertPlan): AlertRoute[] {
  if (f.change.dryRun) return [];
  const fired = plan.rules.filter((r) => r.matches(f));
  const routes: AlertRoute[] = [];
  for (const sink of plan.sinks) {
    const named = sink.rules;
    let rules = named ? fired.filter((r) => named.includes(r.name)) : fired;
    if (rules.length === 0 && !sink.criticalOnly && (!named || named.includes('change'))) rules = [plan.change];
    if (rules.length > 0) routes.push({ sink, rules });
  }
  return routes;
}
