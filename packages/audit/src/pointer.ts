/**
 * JSON pointers (RFC 6901), the form every crtrail record names a field in, and the dot paths people
 * write in configuration and on the command line. The only JSON-pointer code of the project: diff,
 * enrich, integrity, alerts, store and config all read and write pointers through these functions.
 */

/** RFC 6901 escaping of one reference token: `~` → `~0`, `/` → `~1` (in that order, so `~1` stays `~01`). */
export function escapeToken(token: string): string {
  // Most keys hold neither character; skipping the two regex passes matters on the diff's hot path.
  if (token.indexOf('~') < 0 && token.indexOf('/') < 0) return token;
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Inverse of {@link escapeToken}: `~1` first, so `~01` decodes to `~1`, as RFC 6901 §4 asks. */
export function unescapeToken(token: string): string {
  if (token.indexOf('~') < 0) return token;
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** How {@link parsePointer} treats a string that is not a pointer. */
export interface ParsePointerOptions {
  /**
   * Throw on a non-empty string without its leading `/` (default). Off, the first character is
   * taken for the `/` whatever it is and nothing throws: integrity's readers of stored, possibly
   * tampered, record paths have always read them so, and a verify must report, not crash.
   */
  strict?: boolean;
}

/**
 * The unescaped reference tokens of a JSON pointer; `""` (the whole document) has none.
 * Throws on a string that is not a pointer (non-empty without its leading `/`) unless `strict: false`.
 */
export function parsePointer(pointer: string, options: ParsePointerOptions = {}): string[] {
  if (pointer === '') return [];
  if (options.strict !== false && !pointer.startsWith('/'))
    throw new Error(`not a JSON pointer: ${JSON.stringify(pointer)}`);
  return pointer.slice(1).split('/').map(unescapeToken);
}

/** The JSON pointer of these (unescaped) reference tokens; no tokens is `""`, the whole document. */
export function formatPointer(tokens: readonly string[]): string {
  let out = '';
  for (const t of tokens) out += `/${escapeToken(t)}`;
  return out;
}

/**
 * The unescaped tokens a field path names, in either form: `spec.containers[*].image` →
 * `['spec', 'containers', '*', 'image']` (`*` = any index or key, for rules to match on), a pointer
 * as {@link parsePointer} reads it. Empty dot segments are skipped.
 */
export function pathTokens(path: string): string[] {
  if (path.startsWith('/')) return parsePointer(path);
  return path
    .replace(/\[(\*|\d+)\]/g, '.$1')
    .split('.')
    .filter(Boolean);
}

/** How {@link pathToPointer} reads a dot path. The defaults are the configuration's reading. */
export interface DotPathOptions {
  /**
   * Read `[*]` as the token `*` (a config rule matching any index). Off, only `[0]`-style indices
   * are tokens of their own and `[*]` stays part of its key. Default true.
   */
  wildcardIndex?: boolean;
  /**
   * Forgive what a person types on a command line: empty dot segments (`spec..x`, a trailing `.`)
   * are skipped and a pointer's trailing slashes are trimmed (`/spec/` → `/spec`, `/` stays `/`).
   * Off, a pointer is returned as given and every dot segment is a token. Default false.
   */
  lenient?: boolean;
}

/**
 * A dot path as the JSON pointer records use (`spec.containers[0].image` → `/spec/containers/0/image`);
 * a string starting with `/` is already a pointer. Keys that hold dots themselves (annotation names)
 * need the pointer form.
 */
export function pathToPointer(path: string, options: DotPathOptions = {}): string {
  const { wildcardIndex = true, lenient = false } = options;
  if (path.startsWith('/')) return lenient ? path.replace(/\/+$/, '') || '/' : path;
  const segments = path.replace(wildcardIndex ? /\[(\*|\d+)\]/g : /\[(\d+)\]/g, '.$1').split('.');
  return `/${(lenient ? segments.filter((s) => s !== '') : segments).map(escapeToken).join('/')}`;
}
