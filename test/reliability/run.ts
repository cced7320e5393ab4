/**
 * `npm run test:reliability`: runs the fault scenarios one after the other (they kill processes:
 * never two at once), writes report.json and report.md next to this file, and exits 1 if any row
 * lost acked events (except the documented no-persistence row, whose loss must be detected),
 * stored duplicates, or failed one of its checks.
 *
 *   --fast          only the rows that also run in `npm test`
 *   --only a,b      only the scenarios whose name contains one of these words
 *   --no-report     do not write report.json/report.md (a partial run should not replace the report)
 */
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureElasticsearch, type Managed } from '@crtrail/stack';
import { testEsUrl } from '@crtrail/testkit';
import { scenarios } from './scenarios.js';
import { failures, writeReport } from './report.js';
import type { Row } from './harness.js';

const args = process.argv.slice(2);
const fast = args.includes('--fast');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',').filter(Boolean) : [];
const partial = fast || only.length > 0;
const writeIt = !args.includes('--no-report') && !partial;

const say = (m: string): void => void process.stderr.write(`reliability: ${m}\n`);
const chosen = scenarios.filter(
  (s) => (!fast || s.fast) && (only.length === 0 || only.some((w) => s.name.toLowerCase().includes(w.toLowerCase()))),
);
if (chosen.length === 0) {
  say(`no scenario matches ${only.join(',')}; names: ${scenarios.map((s) => s.name).join(' | ')}`);
  process.exit(2);
}

const started: Managed[] = [];
const rows: Row[] = [];
const t0 = Date.now();
const startedAt = new Date().toISOString();
let code = 0;
try {
  // Elasticsearch is shared (each scenario brings its own Redis); like `npm test`, start it if absent.
  const es = await ensureElasticsearch(testEsUrl(), {}, say);
  if (es.started) started.push(es.started);
  for (const s of chosen) {
    say(`${s.name}: ${s.what}`);
    const row = { ...(await s.run()), scenario: s.name };
    rows.push(row);
    const f = failures(row);
    say(
      `${s.name}: expected ${row.expected}, acked ${row.acked}, stored ${row.stored}, dead-lettered ${row.dead_lettered}, lost ${row.lost}, duplicates ${row.duplicates} (${row.seconds} s) ${f.length ? `FAIL: ${f.join('; ')}` : 'ok'}${row.note ? ` — ${row.note}` : ''}`,
    );
    if (f.length) code = 1;
  }
} catch (err) {
  say((err as Error).stack ?? String(err));
  code = 1;
} finally {
  for (const m of started.reverse()) await m.stop();
}
if (writeIt) {
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    /* not a git checkout */
  }
  writeReport(dirname(fileURLToPath(import.meta.url)), rows, {
    startedAt,
    seconds: Math.round((Date.now() - t0) / 1000),
    ...(commit ? { commit } : {}),
  });
  say('wrote test/reliability/report.json and report.md');
}
process.exit(code);
