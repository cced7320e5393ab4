/** How {@link shorten} counts its limit. */
export interface ShortenOptions {
  /**
   * Count the `…` in: the result is at most `max` characters (for a receiver with a hard limit, such
   * as a Slack block). Off (default), `max` characters of the text are kept and the `…` follows.
   */
  fit?: boolean;
}

/**
 * `text` cut to `max` characters with a `…` that says so; text that fits is returned as it is. Cuts
 * at a UTF-16 code unit, as a length limit counts (a pair split in two shows as one replacement mark).
 */
export function shorten(text: string, max: number, options: ShortenOptions = {}): string {
  if (text.length <= max) return text;
  return `${text.slice(0, options.fit ? max - 1 : max)}…`;
}
