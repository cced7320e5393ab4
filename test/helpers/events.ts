import { orderedEvents } from '../fixtures/lifecycle.js';

/** Records the lifecycle scenario makes for one cluster: 12 single-object writes + 2 deletecollection items. */
export const LIFECYCLE_RECORDS = 14;

export function eventList(items: unknown[]): string {
  return JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items });
}

/** POSTs the whole lifecycle scenario for `cluster` as one batch; throws unless acked. */
export async function postLifecycle(webhookUrl: string, cluster: string): Promise<void> {
  const res = await fetch(`${webhookUrl}/audit/${cluster}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: eventList(orderedEvents()),
  });
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
}
