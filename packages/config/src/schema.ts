import { z } from 'zod';

/** A regular expression given as a string; invalid ones are config errors, not crashes later. */
const regex = z.string().min(1).refine((s) => {
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

/** A dot path as the JSON pointer it names (`spec.containers[0].image` → `/spec/containers/0/image`). */
export function pathToPointer(path: string): string {
  if (path.startsWith('/')) return path;
  return `/${path
    .replace(/\[(\*|\d+)\]/g, '.$1')
    .split('.')
    .map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1'))
    .join('/')}`;
}

export const configSchema = z
  .object({
    filter: z
      .object({
        /** API groups treated as built-in (not recorded); replaces the default list when given. */
        builtInGroups: z.array(z.string()).optional(),
        /** JSON pointers left out of diffs, added to the defaults. */
        ignorePaths: z.array(fieldPath.transform(pathToPointer)).default([]),
      })
      .strict()
      .default({}),
    actors: z
      .object({
        /** `tool` of a write, from its userAgent and/or the request's field manager (`?fieldManager=`, else the apiserver's default from the userAgent). First match wins. */
        tools: z.array(z.object({ tool: z.string().min(1), userAgent: regex.optional(), manager: regex.optional() }).strict()).default([]),
        /** Usernames (regex) that are controllers/operators even with a kubectl-like userAgent. */
        controllers: z.array(regex).default([]),
        /** GitOps managers: a write by one (its service account, or a service account with its userAgent/field manager) is `gitops`; objects whose managedFields name its `manager` are drift-checked. */
        gitops: z
          .array(z.object({ name: z.string().min(1), userAgent: regex.optional(), manager: regex.optional(), username: regex.optional() }).strict())
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
    alerts: z
      .object({
        sinks: z.array(z.object({ type: z.enum(['webhook', 'slack']), url: z.string().url(), critical_only: z.boolean().default(true) }).strict()).default([]),
      })
      .strict()
      .default({}),
  })
  .strict();

export type CrtrailConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
