export {
  type AuditEvent,
  type EventList,
  type KubeObject,
  type Level,
  type ObjectReference,
  type ResponseStatus,
  type Stage,
  type UserInfo,
} from './types.js';
export { validateEvent, validateEventList } from './schema.js';
export { isDryRun, isObject, listItems, responseCode, responseKubeObject } from './object-ref.js';
export { objectKeyString, recordIdOf, type ObjectKey } from './record-id.js';
export {
  canonicalJson,
  rememberCanonical,
  SHARED_TEXT_DEPTH,
  shareCanonical,
  shareMemberTexts,
  stringifyReusing,
} from './canonical.js';
export { backoff, retry, type BackoffPolicy, type RetryOptions, type RetryPolicy } from './retry.js';
export { shorten, type ShortenOptions } from './shorten.js';
export {
  escapeToken,
  formatPointer,
  parsePointer,
  pathToPointer,
  pathTokens,
  unescapeToken,
  type DotPathOptions,
  type ParsePointerOptions,
} from './pointer.js';
