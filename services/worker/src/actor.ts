import type { AuditEvent, KubeObject } from '@crtrail/audit';
import type { RecordActor } from '@crtrail/store';

/** Minimal actor classification (the enrich package's classifier replaces it when configured). */
export const classifyActorBasic = (event: AuditEvent, _object: KubeObject | undefined): RecordActor => {
  const name = event.impersonatedUser?.username ?? event.user.username ?? 'unknown';
  const kind = name.startsWith('system:serviceaccount:') ? 'serviceaccount' : name.startsWith('system:') ? 'system' : name === 'unknown' ? 'unknown' : 'human';
  const tool = (event.userAgent ?? '').split('/')[0] || 'unknown';
  return { kind, name, tool };
};
