import { isObject } from '@crtrail/audit';
import { readAksExport } from './aks.js';
import { DEFAULT_MAX_INFLATED_BYTES, exportText } from './decode.js';
import { readGkeExport } from './gke.js';
import type { ExportRead } from './result.js';

/** What a replay file holds: provider records, or the apiserver's own events (replay's existing formats). */
export type ExportSource = 'aks' | 'gke' | 'native';

function sourceOf(value: unknown): ExportSource | undefined {
  if (!isObject(value)) return undefined;
  if (isObject(value.protoPayload)) return 'gke';
  if (Array.isArray(value.records) || (typeof value.category === 'string' && value.properties !== undefined))
    return 'aks';
  if (value.kind === 'EventList' || typeof value.auditID === 'string') return 'native';
  return undefined;
}

/**
 * Which reader a replay file needs, told by its first record (so `crtrail replay` can take
 * provider exports without a flag): a GKE LogEntry has `protoPayload`, an AKS record `category`
 * and `properties` (or a `{"records"}` wrapper), an audit event `auditID` (an EventList `kind`).
 * `undefined` when the first record is none of these.
 */
export function detectExportSource(
  content: Uint8Array | string,
  maxInflatedBytes = DEFAULT_MAX_INFLATED_BYTES,
): ExportSource | undefined {
  const text = exportText(content, maxInflatedBytes).trimStart();
  const tryParse = (s: string): unknown => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      return undefined;
    }
  };
  if (text.startsWith('[')) {
    const all = tryParse(text);
    return Array.isArray(all) ? sourceOf(all[0]) : undefined;
  }
  // One JSON document over many lines ({"records"} pretty-printed, an EventList) or JSON Lines.
  const whole = tryParse(text);
  if (whole !== undefined) return sourceOf(whole);
  const first = text.split(/\r?\n/, 1)[0] ?? '';
  return sourceOf(tryParse(first));
}

/** Reads a provider export with the reader of its source. */
export function readProviderExport(
  content: Uint8Array | string,
  source: 'aks' | 'gke',
  maxInflatedBytes = DEFAULT_MAX_INFLATED_BYTES,
): ExportRead {
  return source === 'aks' ? readAksExport(content, maxInflatedBytes) : readGkeExport(content, maxInflatedBytes);
}
