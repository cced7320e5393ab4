import { listItems, recordIdOf, responseCode, isDryRun, responseKubeObject, type AuditEvent, type KubeObject } from '@crtrail/audit';
import type { RecordOp } from '@crtrail/store';
import type { ChangeTracker, TrackedRecord } from './tracker.js';

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function adds(value: unknown, path = ''): RecordOp[] {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([k, v]) => (k === 'managedFields' ? [] : adds(v, `${path}/${escapePointer(k)}`)));
  }
  return [{ op: 'add', path, new: value }];
}

/**
 * A stateless tracker: create = all adds, everything else = what the event alone shows. Used
 * when no state store is configured; the Redis-backed change engine replaces it.
 */
export function createSimpleTracker(): ChangeTracker {
  return {
    async track(cluster, events, write) {
      const records: TrackedRecord[] = [];
      for (const event of events) {
        const base = { kind: 'noop', baseline: 'unknown' as const, dry_run: isDryRun(event) };
        if (event.verb === 'deletecollection') {
          const items = listItems(event.responseObject) ?? [];
          for (const item of items) {
            const uid = item.metadata?.uid ?? item.metadata?.name ?? '';
            records.push({ id: recordIdOf(cluster, event.auditID, uid), event, object: item, change: { ...base, kind: 'delete', ops: [], paths: [] } });
          }
          if (items.length === 0) records.push({ id: recordIdOf(cluster, event.auditID), event, change: { ...base, kind: 'delete', ops: [], paths: [] } });
          continue;
        }
        const object: KubeObject | undefined = responseKubeObject(event);
        const ops = event.verb === 'create' && responseCode(event) < 400 && object ? adds(object) : [];
        records.push({
          id: recordIdOf(cluster, event.auditID),
          event,
          object,
          change: {
            ...base,
            kind: event.verb === 'create' ? 'create' : event.verb === 'delete' ? 'delete' : ops.length ? 'spec' : 'noop',
            baseline: event.verb === 'create' ? 'none' : 'unknown',
            ops,
            paths: ops.map((o) => o.path),
          },
        });
      }
      await write({ records, repairs: [] });
    },
  };
}

export type { AuditEvent };
