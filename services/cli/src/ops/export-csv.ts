import type { Integrity } from '@crtrail/integrity';
import type { StoredRecordDoc } from '@crtrail/store';

/** The columns of a CSV export: the chain links first, then one changed field per row. */
export const CSV_COLUMNS = [
  'cluster',
  'seq',
  'hash',
  'prev_hash',
  'timestamp',
  'event_id',
  'verb',
  'outcome',
  'actor_kind',
  'actor_name',
  'actor_tool',
  'username',
  'impersonated_user',
  'source_ip',
  'group',
  'resource',
  'subresource',
  'namespace',
  'name',
  'change_kind',
  'op',
  'path',
  'old',
  'new',
];

/**
 * The fields of a record an export shows, as read back (any may be missing); its chain link, when
 * there is one, whole: sealing sets its three members together.
 */
export type ExportDoc = StoredRecordDoc<
  '@timestamp' | 'event' | 'orchestrator' | 'source' | 'kubernetes' | 'crtrail'
> & {
  crtrail?: { integrity?: Integrity };
};

const json = (v: unknown): string => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

/**
 * A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a leading tab/CR, OWASP's
 * CSV-injection list) gets a leading `'`: the values come from whoever wrote to the cluster.
 */
export function csvCell(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** One CSV row per changed field (a record without ops is one row with the op columns empty), formula-safe. */
export function csvRows(doc: ExportDoc): string[][] {
  return rawCsvRows(doc).map((row) => row.map(csvCell));
}

function rawCsvRows(doc: ExportDoc): string[][] {
  const a = doc.kubernetes?.audit ?? {};
  const ref = a.objectRef ?? {};
  const i = doc.crtrail?.integrity;
  const head = [
    doc.orchestrator?.cluster?.name ?? '',
    i ? String(i.seq) : '',
    i?.hash ?? '',
    i?.prev_hash ?? '',
    doc['@timestamp'] ?? '',
    doc.event?.id ?? '',
    doc.event?.action ?? '',
    doc.event?.outcome ?? '',
    doc.crtrail?.actor?.kind ?? '',
    doc.crtrail?.actor?.name ?? '',
    doc.crtrail?.actor?.tool ?? '',
    a.user?.username ?? '',
    a.impersonatedUser?.username ?? '',
    doc.source?.ip ?? '',
    ref.apiGroup ?? '',
    ref.resource ?? '',
    ref.subresource ?? '',
    ref.namespace ?? '',
    ref.name ?? '',
    doc.crtrail?.change?.kind ?? '',
  ];
  const ops = doc.crtrail?.change?.ops ?? [];
  if (ops.length === 0) return [[...head, '', '', '', '']];
  return ops.map((o) => [...head, o.op, o.path, json(o.old), json(o.new)]);
}
