import { stateHash } from '@crtrail/diff';
import { buildRecord } from '@crtrail/store';
import type { Enricher } from '@crtrail/worker';

/** The record documents of a plan's records, built as the worker builds them (without I/O). */
export function recordDocs(
  plan: { records: ReadonlyArray<Parameters<Enricher>[0]> },
  cluster: string,
  enrich: Enricher,
  at: { receivedAt: number; ingestedAt: number; configDigest?: string },
) {
  return plan.records.map((r) => {
    const { actor, change, kind } = enrich(r);
    return buildRecord({
      cluster,
      event: r.event,
      object: r.object,
      change: r.previous ? { ...change, prev_state_hash: stateHash(r.previous) } : change,
      actor,
      kind,
      ...(at.configDigest === undefined ? {} : { configDigest: at.configDigest }),
      receivedAt: at.receivedAt,
      ingestedAt: at.ingestedAt,
    });
  });
}
