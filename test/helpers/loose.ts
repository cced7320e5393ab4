/**
 * A JSON document the integration tests walk freely: a change record read back from Elasticsearch, an
 * object built from a fixture. Loose on purpose — the tests' assertions are what check its shape, and a
 * wrong path fails them. When the one record type of issue 18 (`ChangeRecordDoc` in @crtrail/store)
 * lands, `StoredDoc['_source']` becomes it and the readers here lose their looseness.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests' one loose JSON type, see above
export type LooseJson = Record<string, any>;

/** A hit read back from Elasticsearch. */
export interface StoredDoc {
  _id: string;
  _index: string;
  _source: LooseJson;
}
