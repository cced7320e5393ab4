import canonicalizeModule from 'canonicalize';

/**
 * RFC 8785 (JCS) canonical JSON of a value: the one serialisation every hash in crtrail is taken
 * over (stored-state hashes, the integrity chain), so they agree across processes and languages.
 * `canonicalize` is CommonJS whose default export is the function itself; its bundled typings
 * declare an ES default export, which NodeNext resolution does not see as callable, hence the cast.
 */
export const canonicalJson = canonicalizeModule as unknown as (value: unknown) => string | undefined;
