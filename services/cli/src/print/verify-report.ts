import type { VerifyReport } from '../ops/verify-report.js';

/**
 * The report as people read it: `INTACT what` on stdout, or `BROKEN what: first problem` on stderr
 * (a cron job's mail shows the failure), then the other problems and the notes, indented.
 */
export function printVerifyReport(report: VerifyReport, what: string): void {
  const out = report.ok ? process.stdout : process.stderr;
  const partly =
    Object.keys(report.unchecked?.derived ?? {}).length > 0 ? ' (some derived fields not checkable: see below)' : '';
  out.write(report.ok ? `INTACT ${what}${partly}\n` : `BROKEN ${what}: ${report.problems[0]}\n`);
  for (const p of report.problems.slice(1)) out.write(`  ${p}\n`);
  for (const n of report.notes) out.write(`  ${n}\n`);
}
