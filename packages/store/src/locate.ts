import type { Client } from '@elastic/elasticsearch';

export interface BackingIndices {
  write: string | undefined;
  /** Older (read-only) backing indices, newest first. */
  older: string[];
}

/**
 * Where existing records live. Creates go to the write index (a 409 there means "already done"), but
 * after a rollover a replayed record's first copy sits in an older index, where `create` cannot see
 * it. So before writing, ids are looked up with a realtime multi-get in the older indices only — no
 * cost while there is a single backing index — and found ones are not created again; repairs
 * (updates) are sent to the index that actually holds the record.
 */
export class RecordLocator {
  constructor(
    private readonly es: Client,
    private readonly alias: string,
  ) {}

  /**
   * The backing indices, read fresh every time: a rollover by another process must be seen by the
   * very next batch, or a replay right after it would create a second copy. One `_alias` GET per
   * batch (≤ 50/s at 20,000 events/s) is cheap.
   */
  async backing(): Promise<BackingIndices> {
    const res = await this.es.indices.getAlias({ name: this.alias }, { ignore: [404] });
    let write: string | undefined;
    const older: string[] = [];
    for (const [index, info] of Object.entries(
      res as Record<string, { aliases?: Record<string, { is_write_index?: boolean }> }>,
    )) {
      if (!info?.aliases) continue;
      if (info.aliases[this.alias]?.is_write_index) write = index;
      else older.push(index);
    }
    older.sort().reverse();
    return { write, older };
  }

  /** Maps each id found in an older backing index to that index (absent = not there). */
  async findInOlder(ids: string[]): Promise<Map<string, string>> {
    return this.find(ids, false);
  }

  /**
   * Maps each id found in any backing index, the write index included, to its index. The hash
   * chain needs this before a record is created: a seq handed to a record that then answers 409
   * (it was already there) would be a hole in the chain.
   */
  async findExisting(ids: string[], backing?: BackingIndices): Promise<Map<string, string>> {
    return this.find(ids, true, backing);
  }

  /** `backing`: as {@link backing} read them for this batch (read now when absent). */
  private async find(ids: string[], includeWrite: boolean, backing?: BackingIndices): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    if (ids.length === 0) return found;
    const { write, older } = backing ?? (await this.backing());
    const indices = includeWrite && write ? [write, ...older] : older;
    if (indices.length === 0) return found;
    const docs = indices.flatMap((index) => ids.map((id) => ({ _index: index, _id: id })));
    const res = await this.es.mget({ docs, _source: false, realtime: true });
    for (const d of res.docs) {
      if ('found' in d && d.found && !found.has(d._id)) found.set(d._id, d._index);
    }
    return found;
  }
}
