import type { Command } from 'commander';
import { loadEnv } from '@crtrail/config';
import { failedAsReported } from '../errors.js';

export function registerDlq(program: Command): void {
  const dlq = program
    .command('dlq')
    .description(
      'inspect and re-drive what could not be indexed or sent: refused records, events that broke processing, failed batches, failed alerts',
    );
  dlq
    .command('list')
    .description(
      'list dead letters (id, when, cluster, status or type, reason), failed batches (batch:<job>, first failure, cluster, events and attempts, reason) and failed alerts (alert:<job>, last failure, cluster, sink, records and attempts, reason)',
    )
    .option('--json', 'one JSON entry per line (failed batches have type "batch", failed alerts "alert")')
    .action(async (opts: { json?: boolean }) => {
      const { ALERT, BATCH, listDlq } = await import('../ops/dlq.js');
      const { letters, batches, alerts } = await listDlq(loadEnv());
      for (const l of letters) {
        const what = l.type === 'event' ? 'event' : String(l.status);
        process.stdout.write(
          opts.json ? `${JSON.stringify(l)}\n` : `${l.id}\t${l.at}\t${l.cluster}\t${what}\t${l.reason}\n`,
        );
      }
      for (const b of batches) {
        const line = `${BATCH}${b.id}\t${b.firstFailedAt}\t${b.cluster}\t${b.events} events, ${b.attempts} attempts\t${b.reason}\n`;
        process.stdout.write(opts.json ? `${JSON.stringify({ type: 'batch', ...b, id: `${BATCH}${b.id}` })}\n` : line);
      }
      for (const a of alerts) {
        const what = `sink ${a.sink}, ${a.records.length === 1 ? `record ${a.records[0]}` : `${a.records.length} records (grouped)`}, ${a.attempts} attempts`;
        const line = `${ALERT}${a.id}\t${a.failedAt ?? ''}\t${a.cluster}\t${what}\t${a.reason}\n`;
        process.stdout.write(
          opts.json ? `${JSON.stringify({ ...a, type: 'alert', message: a.type, id: `${ALERT}${a.id}` })}\n` : line,
        );
      }
      process.stderr.write(
        `${letters.length} dead letter(s), ${batches.length} failed batch(es), ${alerts.length} failed alert(s)\n`,
      );
    });
  dlq
    .command('replay')
    .description(
      're-drive dead letters, failed batches and failed alerts (all, or --id) after fixing the cause; a failed alert is sent again by the running worker',
    )
    .option('--id <id>', 'only this entry (a record id, event:<cluster>:<auditID>, batch:<job id> or alert:<job id>)')
    .action(async (opts: { id?: string }) => {
      const { replayDlq } = await import('../ops/dlq.js');
      const { letters: r, batches, alerts } = await replayDlq(loadEnv(), opts.id);
      process.stdout.write(
        `tried ${r.tried}, indexed ${r.indexed}, already present ${r.duplicates}, events re-enqueued ${r.requeued}, still failing ${r.stillFailing.length}; failed batches re-enqueued ${batches}; failed alerts re-queued ${alerts}\n`,
      );
      for (const f of r.stillFailing) process.stderr.write(`still failing: ${f.id}: ${f.reason}\n`);
      const unknownId = opts.id !== undefined && r.tried === 0 && batches === 0 && alerts === 0;
      if (unknownId)
        process.stderr.write(
          `no dead letter, failed batch or failed alert with id ${opts.id} (see crtrail dlq list)\n`,
        );
      if (unknownId || r.stillFailing.length > 0)
        throw failedAsReported(unknownId ? `no entry ${opts.id}` : `${r.stillFailing.length} still failing`);
    });
}
