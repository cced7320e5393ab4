import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { isObject } from '@crtrail/audit';

export interface ReadStats {
  events: number;
  skippedV1beta1: number;
  invalidLines: number;
}

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
 */
export async function* readEvents(file: string, stats: ReadStats): AsyncGenerator<Record<string, unknown>> {
  const chunks: string[] = [];
  let ndjson: boolean | undefined;
  const lines = createInterface({ input: open(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (ndjson === undefined) {
      const trimmed = line.replace(/^\uFEFF/, '').trim();
      if (trimmed === '') continue;
      // A whole-document JSON starts with `[`, or with `{` on a line that is not a complete object.
      ndjson = !(trimmed.startsWith('[') || (trimmed.startsWith('{') && !isCompleteJson(trimmed)));
      if (ndjson) {
        const single = parseLine(trimmed, stats);
        if (single && isEventList(single)) {
          yield* fromList(single, stats);
          continue;
        }
        if (single) yield* accept(single, stats);
        continue;
      }
    }
    if (ndjson) {
      const trimmed = line.trim();
      if (trimmed === '') continue;
      const parsed = parseLine(trimmed, stats);
      if (parsed && isEventList(parsed)) yield* fromList(parsed, stats);
      else if (parsed) yield* accept(parsed, stats);
    } else {
      chunks.push(line);
    }
  }
  if (ndjson === false) {
    const doc: unknown = JSON.parse(chunks.join('\n').replace(/^\uFEFF/, ''));
    if (Array.isArray(doc)) {
      for (const item of doc) if (isObject(item)) yield* accept(item, stats);
    } else if (isObject(doc) && isEventList(doc)) {
      yield* fromList(doc, stats);
    } else if (isObject(doc)) {
      yield* accept(doc, stats);
    }
  }
}

function isCompleteJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

function parseLine(line: string, stats: ReadStats): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    if (isObject(v)) return v;
  } catch {
    /* counted below */
  }
  stats.invalidLines++;
  return undefined;
}

function isEventList(v: Record<string, unknown>): boolean {
  return v.kind === 'EventList' && Array.isArray(v.items);
}

function* fromList(list: Record<string, unknown>, stats: ReadStats): Generator<Record<string, unknown>> {
  const listVersion = typeof list.apiVersion === 'string' ? list.apiVersion : V1;
  for (const item of list.items as unknown[]) {
    if (!isObject(item)) continue;
    yield* accept(item.apiVersion === undefined ? { ...item, apiVersion: listVersion } : item, stats);
  }
}

function* accept(event: Record<string, unknown>, stats: ReadStats): Generator<Record<string, unknown>> {
  if (event.apiVersion !== undefined && event.apiVersion !== V1) {
    stats.skippedV1beta1++;
    return;
  }
  stats.events++;
  // The apiserver's webhook backend sends items without their own kind/apiVersion.
  const { kind: _kind, apiVersion: _apiVersion, ...rest } = event;
  yield rest;
}
