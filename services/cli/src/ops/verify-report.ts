import type { ChainVerifier } from '@crtrail/integrity';

/** What `crtrail verify` found: the command prints it (or its JSON) and exits 0 only when `ok`. */
export interface VerifyReport {
  ok: boolean;
  records: number;
  /** What is wrong, the first broken record first. */
  problems: string[];
  /** What was checked and holds (or could not be checked). */
  notes: string[];
  /** Records not checked in part, by reason: their old values, and their derived fields (never passed silently). */
  unchecked?: { old_values: Record<string, number>; derived: Record<string, { records: number; fields: string[] }> };
}

/** The verifier's problems as report lines, with a count of those it stopped collecting. */
export function problemLines(v: ChainVerifier): string[] {
  const lines = v.problems.map((p) => `${p.kind}: ${p.message}`);
  if (v.totalProblems > v.problems.length) lines.push(`… and ${v.totalProblems - v.problems.length} more`);
  return lines;
}

/** What the walk checked beyond the links, and what it could not check, by reason. */
export function checkNotes(v: ChainVerifier, digests: readonly string[]): string[] {
  const old = [...v.oldValuesUncheckedBy].map(([reason, n]) => `${n} records, ${reason}`);
  const derived = [...v.derivedUncheckedBy].map(
    ([reason, d]) => `${d.records} records: ${reason} (${[...d.fields].join(', ')})`,
  );
  return [
    `old values: ${v.oldValuesChecked} records checked against their predecessor's stored state${old.length ? `; not checkable: ${old.join('; ')}` : ''}`,
    `derived fields: ${v.derivedChecked} records recomputed in full (configuration ${digests.map((d) => `${d.slice(0, 16)}…${d.slice(64)}`).join(', ')})${derived.length ? `; NOT CHECKED in part: ${derived.join('; ')}` : ''}`,
  ];
}

/** What the walk could not check, by reason, for the report's `unchecked`. */
export function uncheckedOf(v: ChainVerifier): NonNullable<VerifyReport['unchecked']> {
  return {
    old_values: Object.fromEntries(v.oldValuesUncheckedBy),
    derived: Object.fromEntries(
      [...v.derivedUncheckedBy].map(([r, d]) => [r, { records: d.records, fields: [...d.fields] }]),
    ),
  };
}
