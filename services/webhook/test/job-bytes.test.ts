import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BatchJob } from '@crtrail/queue';
import { encodeBatchJob } from '../src/job-bytes.js';
import { event } from './helpers/webhook.js';

test('a job encoded from its events’ JSON is the text JSON.stringify makes of the job object', () => {
  const events = [event(1), { ...event(2), annotations: { 'q"': 'é😀' } }] as unknown as BatchJob['events'];
  const jobs: BatchJob[] = [
    { cluster: 'prod-eu-1', receivedAt: 1764650000123, events },
    { cluster: 'c"1', receivedAt: 1, events: [], batch: '5d0b3c4e-0000-4000-8000-000000000000', part: 2, parts: 3 },
    {
      cluster: 'sized',
      receivedAt: 2,
      events,
      bytes: 1234,
      batch: '5d0b3c4e-0000-4000-8000-000000000001',
      part: 1,
      parts: 2,
    },
  ];
  for (const job of jobs) {
    const { events: evs, ...header } = job;
    const bytes = encodeBatchJob(
      header,
      evs.map((e) => Buffer.from(JSON.stringify(e))),
    );
    assert.equal(bytes.toString('utf8'), JSON.stringify(job));
  }
});
