import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Row } from './harness.js';

/** Why a row fails the suite: loss (unless expected and detected), duplicates, or a failed check. */
export function failures(row: Row): string[] {
  const out: string[] = [];
  if (row.lost > 0 && !row.expected_loss) out.push(`${row.lost} acked event(s) lost`);
  if (row.duplicates > 0) out.push(`${row.duplicates} duplicate record(s)`);
  out.push(...row.problems);
  return out;
}

function cell(v: string): string {
  return v.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function markdown(rows: Row[], meta: { startedAt: string; seconds: number; commit?: string }): string {
  const lines = [
    '# crtrail fault suite',
    '',
    `Run ${meta.startedAt}${meta.commit ? ` on ${meta.commit}` : ''}, ${meta.seconds} s. \`npm run test:reliability\` writes this file; see README, "Reliability".`,
    '',
    'expected = custom-resource writes sent; acked = those in batches answered 200; stored = events with a record in',
    'Elasticsearch; dead-lettered = events without a record that `crtrail dlq list` shows; lost = acked − stored −',
    'dead-lettered; duplicates = records beyond one per event.',
    '',
    '| scenario | expected | acked | stored | dead-lettered | lost | duplicates | s | result | note |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const r of rows) {
    const f = failures(r);
    const result =
      f.length === 0
        ? r.expected_loss && r.lost > 0
          ? 'ok (expected loss, detected)'
          : 'ok'
        : `**FAIL**: ${f.join('; ')}`;
    lines.push(
      `| ${cell(r.scenario)} | ${r.expected} | ${r.acked} | ${r.stored} | ${r.dead_lettered} | ${r.lost} | ${r.duplicates} | ${r.seconds} | ${cell(result)} | ${cell(r.note)} |`,
    );
  }
  lines.push('');
  return lines.join('\n');
}

export function writeReport(
  dir: string,
  rows: Row[],
  meta: { startedAt: string; seconds: number; commit?: string },
): void {
  writeFileSync(join(dir, 'report.json'), JSON.stringify(rows, null, 2) + '\n');
  writeFileSync(join(dir, 'report.md'), markdown(rows, meta));
}
