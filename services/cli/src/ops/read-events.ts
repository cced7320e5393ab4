import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { isObject } from '@crtrail/audit';
import { detectExportSource, readProviderExport, type ExportRead } from '@crtrail/intake';

export interface ReadStats {
  events: number;
  skippedV1beta1: number;
  invalidLines: number;
  /** `file:line: reason` of each line that is not JSON (first ones only; `invalidLines` counts all). */
  invalid: string[];
  /** Records of a provider export that hold no audit event (other log categories, non-resource requests). */
  skippedRecords: number;
}

/** An event read from a file, with where it was (`file:12`, or `file items[3]` in a whole-document file). */
export interface ReadEvent {
  event: Record<string, unknown>;
  where: string;
}

/** How many bad lines are listed by name; the rest are only counted (a garbage file must not flood stderr). */
export const MAX_LISTED_INVALID = 20;

const V1 = 'audit.k8s.io/v1';

function open(file: string): Readable {
  const raw = file === '-' ? process.stdin : createReadStream(file);
  return file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
}

/**
 * Reads audit events from NDJSON (apiserver log backend), a JSON EventList, a JSON array, or a
 * `.gz` of any of them. The format is sniffed from the first non-blank character: `[` is an array,
 * `{` followed by a whole-document parse that yields an EventList is a list, anything else is NDJSON.
 * `audit.k8s.io/v1beta1` events are skipped and counted: their shape differs (timestamps, no
 * userAgent in old captures) and the webhook accepts v1 only.
 *
 * Provider exports are told by their first record (`detectExportSource`) and converted by
 * `@crtrail/intake`: AKS diagnostic-settings records (storage blobs, `{"records"}` files, Event Hub
 * messages one per line) and GKE Cloud Audit Logs entries (NDJSON, a JSON array). Such a file is
 * held whole (an hourly blob, not a stream); its bad records count as bad lines, `file:line: reason`.
 */
export async function* readEvents(file: string, stats: ReadStats): AsyncGenerator<ReadEvent> {
  const chunks: string[] = [];
  let ndjson: boolean | undefined;
  /** Set when the first line is a provider record: every line is kept for the provider's reader. */
  let provider: 'aks' | 'gke' | undefined;
  const providerLines: string[] = [];
  let lineNo = 0;
  const lines = createInterface({ input: open(file), crlfDelay: Infinity });
  for await (const line of lines) {
    lineNo++;
    const where = `${file}:${lineNo}`;
    if (provider) {
      providerLines.push(line);
      continue;
    }
    if (ndjson === undefined) {
      const trimmed = line.replace(/^\uFEFF/, '').trim();
      if (trimmed === '') {
        providerLines.push('');
        continue;
      }
      // A whole-document JSON starts with `[`, or with `{` on a line that is not a complete object.
      ndjson = !(trimmed.startsWith('[') || (trimmed.startsWith('{') && !isCompleteJson(trimmed)));
      const source = ndjson ? detectExportSource(trimmed) : undefined;
      if (source === 'aks' || source === 'gke') {
        provider = source;
        providerLines.push(trimmed);
        continue;
      }
      if (ndjson) {
        const single = parseLine(trimmed, where, stats);
        if (single && isEventList(single)) {
          yield* fromList(single, where, stats);
          continue;
        }
        if (single) yield* accept(single, where, stats);
        continue;
      }
    }
    if (ndjson) {
      const trimmed = line.trim();
      if (trimmed === '') continue;
      const parsed = parseLine(trimmed, where, stats);
      if (parsed && isEventList(parsed)) yield* fromList(parsed, where, stats);
      else if (parsed) yield* accept(parsed, where, stats);
    } else {
      chunks.push(line);
    }
  }
  if (provider) {
    yield* fromExport(file, readProviderExport(providerLines.join('\n'), provider), stats);
    return;
  }
  if (ndjson === false) {
    const text = chunks.join('\n').replace(/^\uFEFF/, '');
    const source = detectExportSource(text);
    if (source === 'aks' || source === 'gke') {
      yield* fromExport(file, readProviderExport(text, source), stats);
      return;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new Error(`${file}: not JSON, nor one JSON event per line: ${(err as Error).message}`);
    }
    if (Array.isArray(doc)) {
      for (let i = 0; i < doc.length; i++) {
        const item: unknown = doc[i];
        if (isObject(item)) yield* accept(item, `${file} [${i}]`, stats);
      }
    } else if (isObject(doc) && isEventList(doc)) {
      yield* fromList(doc, file, stats);
    } else if (isObject(doc)) {
      yield* accept(doc, file, stats);
    }
  }
}

/**
 * The events of a provider export, and its bad records as bad lines. The readers say where as
 * `line 7` (or `records[3]` in a whole document); the reasons start with it, and become
 * `file:7: reason` / `file:7.records[1].properties.log: reason`, as a native bad line reads.
 */
function* fromExport(file: string, read: ExportRead, stats: ReadStats): Generator<ReadEvent> {
  stats.skippedRecords += read.skipped.length;
  for (const { where, reason } of read.rejected) {
    stats.invalidLines++;
    if (stats.invalid.length >= MAX_LISTED_INVALID) continue;
    const line = /^line (\d+)/.exec(where);
    const detail = reason.startsWith(where) ? reason : `${where}: ${reason}`;
    stats.invalid.push(line ? `${file}:${line[1]}${detail.slice(line[0].length)}` : `${file} ${detail}`);
  }
  for (let i = 0; i < read.events.length; i++)
    yield* accept(read.events[i] as unknown as Record<string, unknown>, `${file} event ${i + 1}`, stats);
}

function isCompleteJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

function parseLine(line: string, where: string, stats: ReadStats): Record<string, unknown> | undefined {
  let reason = 'not a JSON object';
  try {
    const v: unknown = JSON.parse(line);
    if (isObject(v)) return v;
  } catch (err) {
    reason = `not JSON (${(err as Error).message})`;
  }
  stats.invalidLines++;
  if (stats.invalid.length < MAX_LISTED_INVALID) stats.invalid.push(`${where}: ${reason}`);
  return undefined;
}

function isEventList(v: Record<string, unknown>): boolean {
  return v.kind === 'EventList' && Array.isArray(v.items);
}

function* fromList(list: Record<string, unknown>, where: string, stats: ReadStats): Generator<ReadEvent> {
  const listVersion = typeof list.apiVersion === 'string' ? list.apiVersion : V1;
  const items = list.items as unknown[];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (!isObject(item)) continue;
    yield* accept(
      item.apiVersion === undefined ? { ...item, apiVersion: listVersion } : item,
      `${where} items[${i}]`,
      stats,
    );
  }
}

function* accept(event: Record<string, unknown>, where: string, stats: ReadStats): Generator<ReadEvent> {
  if (event.apiVersion !== undefined && event.apiVersion !== V1) {
    stats.skippedV1beta1++;
    return;
  }
  stats.events++;
  // The apiserver's webhook backend sends items without their own kind/apiVersion.
  const { kind: _kind, apiVersion: _apiVersion, ...rest } = event;
  yield { event: rest, where };
}
