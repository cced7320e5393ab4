import type { BatchJob } from '@crtrail/queue';

/** A job's fields other than its events, in the order `BatchJob` objects were serialized in. */
export type JobHeader = Omit<BatchJob, 'events'>;

const COMMA = Buffer.from(',');

/**
 * The UTF-8 JSON of a {@link BatchJob} whose events are given as their JSON bytes: the same text
 * `JSON.stringify` makes of the job object when each event's bytes are `JSON.stringify(event)`
 * (same keys, same order, no spaces), and the same value to a worker's `JSON.parse` when they are
 * the bytes the apiserver sent for the event. Workers read jobs of older webhooks and of this one
 * alike: the format is the job contract, not a new one.
 */
export function encodeBatchJob(header: JobHeader, events: readonly Buffer[]): Buffer {
  const head = `{"cluster":${JSON.stringify(header.cluster)},"receivedAt":${JSON.stringify(header.receivedAt)},"events":[`;
  let tail = ']';
  if (header.bytes !== undefined) tail += `,"bytes":${JSON.stringify(header.bytes)}`;
  if (header.batch !== undefined) tail += `,"batch":${JSON.stringify(header.batch)}`;
  if (header.part !== undefined) tail += `,"part":${JSON.stringify(header.part)}`;
  if (header.parts !== undefined) tail += `,"parts":${JSON.stringify(header.parts)}`;
  tail += '}';
  const parts: Buffer[] = [Buffer.from(head)];
  for (let i = 0; i < events.length; i++) {
    if (i > 0) parts.push(COMMA);
    parts.push(events[i]!);
  }
  parts.push(Buffer.from(tail));
  return Buffer.concat(parts);
}
