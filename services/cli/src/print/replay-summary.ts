import type { ReplaySummary } from '../ops/replay.js';

/**
 * A progress line on stderr: redrawn in place on a terminal, one line each otherwise. `end()` closes
 * a redrawn line, so what follows starts on a line of its own.
 */
export function progressLine(): { line: (text: string) => void; end: () => void } {
  const tty = process.stderr.isTTY;
  return {
    line: (text) => void process.stderr.write(tty ? `\r${text}\x1b[K` : `${text}\n`),
    end: () => {
      if (tty) process.stderr.write('\n');
    },
  };
}

/**
 * `sent / accepted / rejected / skipped` on stdout, then on stderr the bad lines, the rejected batches
 * and, when sending `stopped`, why and what was not sent.
 */
export function printReplaySummary(summary: ReplaySummary, stopped: string | undefined): void {
  const parts = [
    `sent ${summary.sent}`,
    `accepted ${summary.accepted} (${summary.writes} custom-resource writes queued for records)`,
    `rejected ${summary.rejected}`,
    `skipped v1beta1 ${summary.skippedV1beta1}`,
  ];
  if (summary.skippedRecords) parts.push(`skipped non-audit records ${summary.skippedRecords}`);
  if (summary.invalidEvents) parts.push(`invalid events ${summary.invalidEvents}`);
  if (summary.invalidLines) parts.push(`unparseable lines ${summary.invalidLines}`);
  process.stdout.write(`${parts.join(', ')}\n`);
  const listed = summary.invalid.length;
  for (const line of summary.invalid) process.stderr.write(`invalid: ${line}\n`);
  const unlisted = summary.invalidEvents + summary.invalidLines - listed;
  if (unlisted > 0) process.stderr.write(`invalid: … and ${unlisted} more\n`);
  for (const r of summary.rejections) process.stderr.write(`rejected: ${r}\n`);
  if (stopped)
    process.stderr.write(
      `crtrail: ${stopped}\nstopped: ${summary.notSent} events of the current batch and the rest of the files were not sent\n`,
    );
}
