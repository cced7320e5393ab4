import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { AuditEvent } from '@crtrail/audit';
import { defaultConfig } from '@crtrail/config';
import { applyMutation, expandMutations, type History } from '@crtrail/diff';
import { classifyActor } from '@crtrail/enrich';
import { isCustomResourceMutation } from '@crtrail/filter';
import type { CloudWatchPayload } from '../src/index.js';

const here = new URL('./fixtures/', import.meta.url);
export const fixtureText = (name: string): string => readFileSync(new URL(name, here), 'utf8');
export const fixtureJson = <T = unknown>(name: string): T => JSON.parse(fixtureText(name)) as T;
export const ndjson = <T = unknown>(name: string): T[] =>
  fixtureText(name)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);

/** The same writes as kube-apiserver's webhook backend would send them. */
export const nativeWrites = (): AuditEvent[] => ndjson<AuditEvent>('native-writes.ndjson');

/** A Firehose HTTP endpoint request carrying CloudWatch Logs subscription payloads, as Firehose builds it. */
export function firehoseBody(payloads: CloudWatchPayload[], options: { gzipRecords?: boolean } = {}): string {
  return JSON.stringify({
    requestId: 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f',
    timestamp: 1578090901599,
    records: payloads.map((p) => {
      const json = Buffer.from(JSON.stringify(p));
      return { data: (options.gzipRecords === false ? json : gzipSync(json)).toString('base64') };
    }),
  });
}

/** A Pub/Sub push envelope (wrapped) of one LogEntry, shaped as Google's push documentation shows. */
export function pushEnvelope(entry: unknown): Record<string, unknown> {
  return {
    message: {
      attributes: { 'logging.googleapis.com/timestamp': '2026-03-02T10:00:01.123456Z' },
      data: Buffer.from(JSON.stringify(entry)).toString('base64'),
      messageId: '2070443601311540',
      message_id: '2070443601311540',
      publishTime: '2026-03-02T10:00:02.749Z',
      publish_time: '2026-03-02T10:00:02.749Z',
    },
    subscription: 'projects/shop-prod/subscriptions/crtrail-audit',
  };
}

/** The event without the annotations an intake adds (to compare with the native event). */
export function withoutIntakeAnnotations(event: AuditEvent): AuditEvent {
  const annotations = Object.fromEntries(
    Object.entries(event.annotations ?? {}).filter(([k]) => !k.startsWith('crtrail.dev/')),
  );
  return { ...event, annotations };
}

/** What crtrail records of each event, through the same filter, engine and actor rules the worker uses. */
export function recordsOf(events: AuditEvent[], cluster = 'shop') {
  const histories = new Map<string, History | undefined>();
  const config = defaultConfig();
  return events
    .filter((e) => isCustomResourceMutation(e))
    .flatMap((event) =>
      expandMutations(event, cluster).map(({ key, mutation }) => {
        const k = JSON.stringify(key);
        const applied = applyMutation(histories.get(k), mutation);
        histories.set(k, applied.history);
        const actor = classifyActor(event, mutation.object, config);
        const { ops, kind, baseline, gap, paths } = applied.record;
        return { auditID: event.auditID, verb: event.verb, ops, paths, kind, baseline, gap, actor };
      }),
    );
}
