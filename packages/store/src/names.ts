/** Index names derived from the prefix (`CRTRAIL_INDEX_PREFIX`, default `crtrail`). */
export interface IndexNames {
  /** The write alias every record goes to, and that searches use. */
  alias: string;
  /** Pattern of the backing indices. */
  pattern: string;
  /** First backing index, created with the alias as its write index. */
  initial: string;
  template: string;
  /** Small index of deployment facts (the redaction salt's fingerprint), never records. */
  meta: string;
}

export function indexNames(prefix: string): IndexNames {
  return {
    alias: `${prefix}-changes`,
    pattern: `${prefix}-changes-*`,
    initial: `${prefix}-changes-000001`,
    template: `${prefix}-changes`,
    meta: `${prefix}-meta`,
  };
}
