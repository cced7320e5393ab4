export {
  chainedFields,
  chainParts,
  GENESIS_HASH,
  hashOfParts,
  recordHash,
  sealRecords,
  type ChainedRecord,
  type ChainHead,
  type Integrity,
} from './chain.js';
export { ChainVerifier, checkOps, seqRangeText } from './verify.js';
export {
  checkSignature,
  generateSigningKeys,
  keyId,
  manifestPathOf,
  SeqTally,
  signManifest,
  type Manifest,
} from './manifest.js';
export { configDigest, derivationConfig, trustedDerivation, type Derivation } from './derived.js';
