export * from './types.js';
export * from './schema.js';
export * from './object-ref.js';
export * from './record-id.js';
export * from './canonical.js';
export { backoff, retry, type BackoffPolicy, type RetryOptions, type RetryPolicy } from './retry.js';
export { shorten, type ShortenOptions } from './shorten.js';
export { escapeToken, formatPointer, parsePointer, pathToPointer, pathTokens, unescapeToken, type DotPathOptions, type ParsePointerOptions } from './pointer.js';
