import { shorten } from '@crtrail/audit';
import type { ChangeDoc } from '../ops/changes.js';

/** Values longer than this are cut on screen (`--wide` shows them whole). */
const MAX_VALUE = 80;
/** A redaction hash (`sha256:` + 64 hex) as a reader needs it: enough digits to see that it changed. */
const REDACTED = /sha256:([0-9a-f]{8})[0-9a-f]{56}/g;

export function shortenHashes(text: string): string {
  return text.replace(REDACTED, 'sha256:$1…');
}

const colours = {
  dim: '\x1b[2m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  cyan: '\x1b[36m',
  bold: '\x1b[1m',
  reset: '\x1b[0m',
};
const plain = Object.fromEntries(Object.keys(colours).map((k) => [k, ''])) as typeof colours;

/**
 * A value as a person reads it: strings bare unless they would be mistaken for something else (empty,
 * padded, a number or a literal), other JSON as JSON; a redacted value as its short hash.
 */
export function showValue(v: unknown, wide = false): string {
  const bare =
    typeof v === 'string' &&
    v !== '' &&
    v.trim() === v &&
    !/^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)$/.test(v) &&
    !/[\n\r\t]/.test(v);
  const text = bare ? (v as string) : (JSON.stringify(v) ?? 'undefined');
  if (wide) return text;
  return shorten(shortenHashes(text), MAX_VALUE);
}

function isCritical(path: string, criticalPaths: string[] | undefined): boolean {
  return (criticalPaths ?? []).some((c) => path === c || path.startsWith(`${c}/`) || c.startsWith(`${path}/`));
}

export interface FormatOptions {
  colour: boolean;
  wide?: boolean;
  id?: string;
}

/**
 * One header line per write — time, cluster, actor (kind, tool), verb, object, flags, record id — and an
 * indented line per changed field: `+ path: new`, `- path: old`, `~ path: old → new`, `?` where the
 * old value is not known (no baseline), `[critical]` on the fields the critical rules name.
 */
export function formatChange(doc: ChangeDoc, options: FormatOptions): string[] {
  const c = options.colour ? colours : plain;
  const ref = doc.kubernetes.audit.objectRef;
  const change = doc.crtrail.change;
  const actor = doc.crtrail.actor;
  const what = `${ref.apiGroup ?? ''}/${ref.resource ?? ''}${ref.subresource ? `/${ref.subresource}` : ''}`;
  const obj = `${ref.namespace ? `${ref.namespace}/` : ''}${ref.name ?? '*'}`;
  const who = [actor.kind, actor.tool].filter((x) => x && x !== 'unknown').join(', ');
  const failed = doc.event.outcome === 'failure';
  const flags = [
    change.critical ? `${c.yellow}critical${c.reset}` : '',
    change.drift ? `${c.yellow}drift${c.reset}` : '',
    change.dry_run ? 'dry-run' : '',
    failed
      ? `${c.red}FAILED${doc.kubernetes.audit.responseStatus?.code ? ` ${doc.kubernetes.audit.responseStatus.code}` : ''}${c.reset}`
      : '',
    change.baseline === 'unknown' ? 'baseline unknown' : '',
  ].filter(Boolean);
  const head = [
    `${c.dim}${doc['@timestamp']}${c.reset}`,
    doc.orchestrator.cluster.name,
    `${c.cyan}${actor.name}${c.reset}${who ? ` (${who})` : ''}`,
    `${c.bold}${doc.event.action}${c.reset}`,
    what,
    obj,
    `${change.kind}${flags.length ? ` [${flags.join(', ')}]` : ''}`,
    options.id ? `${c.dim}id ${options.id}${c.reset}` : '',
  ]
    .filter(Boolean)
    .join('  ');
  const lines = [head];
  for (const o of change.ops ?? []) {
    const mark = isCritical(o.path, change.critical_paths) ? ` ${c.yellow}[critical]${c.reset}` : '';
    const old = 'old' in o && o.old !== undefined ? `${c.red}${showValue(o.old, options.wide)}${c.reset}` : '?';
    const now = `${c.green}${showValue(o.new, options.wide)}${c.reset}`;
    if (o.op === 'add') lines.push(`    + ${o.path}: ${now}${mark}`);
    else if (o.op === 'remove') lines.push(`    - ${o.path}: ${old}${mark}`);
    else lines.push(`    ~ ${o.path}: ${old} → ${now}${mark}`);
  }
  return lines;
}
