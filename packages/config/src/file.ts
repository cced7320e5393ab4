import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { isMap, isNode, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { ZodIssue } from 'zod';
import { DEFAULTS } from './defaults.js';
import { ConfigError } from './env.js';
import { configSchema, type ConfigInput, type CrtrailConfig } from './schema.js';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** The line of the YAML node at `path` (for an unknown key, the line of that key). */
function lineOf(doc: Document, counter: LineCounter, path: Array<string | number>, key?: string): number | undefined {
  let node: unknown = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => (isNode(p.key) ? (p.key as Node & { value?: unknown }).value : p.key) === key);
    node = pair?.key;
  }
  const range = isNode(node) ? (node as Node).range : undefined;
  return range ? counter.linePos(range[0]).line : undefined;
}

function describe(issue: ZodIssue, doc: Document, counter: LineCounter, file: string): string[] {
  const path = issue.path;
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => {
      const line = lineOf(doc, counter, path, k);
      const where = [...path, k].join('.');
      return `${file}${line ? `:${line}` : ''}: ${where}: unknown key`;
    });
  }
  // A missing key has no node: point at its parent.
  let line: number | undefined;
  for (let n = path.length; n >= 0 && line === undefined; n--) line = lineOf(doc, counter, path.slice(0, n));
  return [`${file}${line ? `:${line}` : ''}: ${path.join('.') || '(top)'}: ${issue.message}`];
}

/** Lists append to the defaults' lists; `filter.builtInGroups` replaces them (a list of exceptions would not mean much). */
function merge(defaults: ConfigInput, user: ConfigInput): ConfigInput {
  const cat = <T>(a: T[] | undefined, b: T[] | undefined): T[] => [...(a ?? []), ...(b ?? [])];
  return {
    filter: {
      ...(user.filter?.builtInGroups ? { builtInGroups: user.filter.builtInGroups } : {}),
      ignorePaths: cat(defaults.filter?.ignorePaths, user.filter?.ignorePaths),
    },
    actors: {
      tools: cat(user.actors?.tools, defaults.actors?.tools),
      controllers: cat(defaults.actors?.controllers, user.actors?.controllers),
      gitops: cat(defaults.actors?.gitops, user.actors?.gitops),
      interactive: cat(defaults.actors?.interactive, user.actors?.interactive),
    },
    critical: cat(defaults.critical, user.critical),
    redaction: {
      paths: cat(defaults.redaction?.paths, user.redaction?.paths),
      secretLikeKinds: cat(defaults.redaction?.secretLikeKinds, user.redaction?.secretLikeKinds),
    },
    // Scalars (windows, limits, default_rules) are the user's; rules and sinks append.
    alerts: {
      ...defaults.alerts,
      ...user.alerts,
      rules: cat(defaults.alerts?.rules, user.alerts?.rules),
      sinks: cat(defaults.alerts?.sinks, user.alerts?.sinks),
    },
  };
}

export type ConfigCheck = { ok: true; config: CrtrailConfig } | { ok: false; errors: string[] };

/**
 * Validates a config file's text with the one schema (unknown keys are errors) and merges it over the
 * built-in defaults. Every error names the key path and its line: `crtrail.yaml:12: critical.0.paths: Required`.
 * User tool rules come first, so they win over the built-in ones.
 */
export function checkConfigText(text: string, fileName: string): ConfigCheck {
  const file = basename(fileName);
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => `${file}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`),
    };
  }
  const raw: unknown = doc.toJS() ?? {};
  const user = configSchema.safeParse(raw);
  if (!user.success) return { ok: false, errors: user.error.issues.flatMap((i) => describe(i, doc, counter, file)) };
  return { ok: true, config: deepFreeze(configSchema.parse(merge(DEFAULTS, raw as ConfigInput))) };
}

export function checkConfigFile(path: string): ConfigCheck {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { ok: false, errors: [`${path}: ${(err as Error).message}`] };
  }
  return checkConfigText(text, path);
}

/** The built-in configuration (no file), frozen. */
export function defaultConfig(): CrtrailConfig {
  return deepFreeze(configSchema.parse(merge(DEFAULTS, {})));
}

/** Loads `CRTRAIL_CONFIG` (or the defaults); a bad file throws a {@link ConfigError} listing every problem. */
export function loadConfig(path: string | undefined): CrtrailConfig {
  if (!path) return defaultConfig();
  const checked = checkConfigFile(path);
  if (!checked.ok) throw new ConfigError(`invalid CRTRAIL_CONFIG:\n  ${checked.errors.join('\n  ')}`);
  return checked.config;
}
