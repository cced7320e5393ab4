import { pathToPointer } from '@crtrail/audit';
import { z } from 'zod';

/** A regular expression given as a string; invalid ones are config errors, not crashes later. */
const regex = z
  .string()
  .min(1)
  .refine((s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  }, 'not a valid regular expression');

/** Which objects a rule applies to: an API group, and a kind and/or plural resource. */
const target = {
  group: z.string(),
  kind: z.string().optional(),
  resource: z.string().optional(),
};

const PATH_HELP = 'a dot path (spec.model.version, spec.containers[*].image) or a JSON pointer (/spec/model/version)';
const POINTER = /^(\/[^/]+)+$/;
const DOT_PATH = /^[A-Za-z0-9_$@*-]+(\[(\*|\d+)\])*(\.[A-Za-z0-9_$@*\-/]+(\[(\*|\d+)\])*)*$/;

/**
 * A field path in either form people write: a dot path or a JSON pointer (the form records use). Both
 * are accepted everywhere and mean the same field; a path that could never name a field (empty
 * segments, a pointer without its leading `/`) is an error, not a rule that silently never matches.
 */
const fieldPath = z.string().refine((s) => POINTER.test(s) || DOT_PATH.test(s), PATH_HELP);

// Paths become pointers once, at load (rules and filters hold pointers only); the arrow keeps zod's
// transform context from landing in pathToPointer's options.
const toPointer = (path: string): string => pathToPointer(path);

/** Names of the built-in alert rules (`alerts.default_rules`). */
const DEFAULT_ALERT_RULES = ['critical-change', 'gitops-drift', 'failed-critical-attempt', 'critical-delete'] as const;

const ruleName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lowercase letters, digits, . _ - (max 63)');

/** A custom alert rule: every condition given must hold (an absent one matches anything). */
const alertRule = z
  .object({
    name: ruleName,
    description: z.string().optional(),
    group: z.string().optional(),
    kind: z.string().optional(),
    resource: z.string().optional(),
    namespace: regex.optional(),
    /** Fires when a changed path is, or is inside, or contains one of these. */
    paths: z.array(fieldPath.transform(toPointer)).min(1).optional(),
    actor_kinds: z
      .array(z.enum(['human', 'serviceaccount', 'controller', 'gitops', 'system', 'unknown']))
      .min(1)
      .optional(),
    /** Actor names (regex). */
    actor: regex.optional(),
    verbs: z
      .array(z.enum(['create', 'update', 'patch', 'delete', 'deletecollection']))
      .min(1)
      .optional(),
    outcome: z.enum(['success', 'failure']).optional(),
    critical: z.boolean().optional(),
    drift: z.boolean().optional(),
  })
  .strict();

const alertSink = z
  .object({
    type: z.enum(['webhook', 'slack', 'alertmanager']),
    url: z.string().url(),
    /** Names the sink in job ids, dedupe markers and metrics; default `<type>-<8 hex of the url>`. */
    name: ruleName.optional(),
    /** true: only what the rules fire; false: every recorded change besides (a `change` rule). */
    critical_only: z.boolean().default(true),
    /** Only these rules reach this sink (default: all). */
    rules: z.array(ruleName).min(1).optional(),
  })
  .strict();

const alertsSchema = z
  .object({
    /** The built-in rules (critical changes, GitOps drift, failed attempts on critical objects, deletes of critical objects). */
    default_rules: z.boolean().default(true),
    rules: z.array(alertRule).default([]),
    sinks: z.array(alertSink).default([]),
    /** Per sink and object: the first alert goes at once, later ones within this many seconds become one message with a count (0: no grouping). */
    group_window_seconds: z.number().int().min(0).max(86_400).default(60),
    /** Messages sent per second at most, over all sinks (Slack takes about one a second per webhook). */
    rate_limit_per_second: z.number().int().min(1).max(1000).default(10),
    /** Attempts of one message before it is dead-lettered (the failed set of `<prefix>-alerts`). */
    attempts: z.number().int().min(1).max(100).default(8),
  })
  .strict()
  .superRefine((alerts, ctx) => {
    const names = new Set<string>(alerts.default_rules ? [...DEFAULT_ALERT_RULES, 'change'] : ['change']);
    alerts.rules.forEach((r, i) => {
      if (names.has(r.name))
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `rule name "${r.name}" is already taken` });
      names.add(r.name);
    });
    const sinks = new Set<string>();
    alerts.sinks.forEach((s, i) => {
      for (const [j, r] of (s.rules ?? []).entries()) {
        if (!names.has(r))
          ctx.addIssue({
            code: 'custom',
            path: ['sinks', i, 'rules', j],
            message: `no alert rule named "${r}" (known: ${[...names].join(', ')})`,
          });
      }
      if (s.name !== undefined) {
        if (sinks.has(s.name))
          ctx.addIssue({
            code: 'custom',
            path: ['sinks', i, 'name'],
            message: `sink name "${s.name}" is already taken`,
          });
        sinks.add(s.name);
      }
    });
  })
  .default({});

export type AlertRuleConfig = z.infer<typeof alertRule>;
export type AlertSinkConfig = z.infer<typeof alertSink>;

export const configSchema = z
  .object({
    filter: z
      .object({
        /** API groups treated as built-in (not recorded); replaces the default list when given. */
        builtInGroups: z.array(z.string()).optional(),
        /** JSON pointers left out of diffs, added to the defaults. */
        ignorePaths: z.array(fieldPath.transform(toPointer)).default([]),
      })
      .strict()
      .default({}),
    actors: z
      .object({
        /** `tool` of a write, from its userAgent and/or the request's field manager (`?fieldManager=`, else the apiserver's default from the userAgent). First match wins. */
        tools: z
          .array(z.object({ tool: z.string().min(1), userAgent: regex.optional(), manager: regex.optional() }).strict())
          .default([]),
        /** Usernames (regex) that are controllers/operators even with a kubectl-like userAgent. */
        controllers: z.array(regex).default([]),
        /** GitOps managers: a write by one (its service account, or a service account with its userAgent/field manager) is `gitops`; objects whose managedFields name its `manager` are drift-checked. */
        gitops: z
          .array(
            z
              .object({
                name: z.string().min(1),
                userAgent: regex.optional(),
                manager: regex.optional(),
                username: regex.optional(),
              })
              .strict(),
          )
          .default([]),
        /** userAgents (regex) of interactive clients: a service account using one is not a controller. */
        interactive: z.array(regex).default([]),
      })
      .strict()
      .default({}),
    critical: z.array(z.object({ ...target, paths: z.array(fieldPath).min(1) }).strict()).default([]),
    redaction: z
      .object({
        paths: z.array(z.object({ ...target, paths: z.array(fieldPath).min(1) }).strict()).default([]),
        /**
         * Kinds (regex) whose top-level `data`/`stringData` values are always redacted; also matched,
         * case-insensitively, against the resource name (singular and plural) when the kind is unknown.
         */
        secretLikeKinds: z.array(regex).default([]),
      })
      .strict()
      .default({}),
    alerts: alertsSchema,
  })
  .strict();

export type CrtrailConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
