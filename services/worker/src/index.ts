export * from './metrics.js';
export * from './process-batch.js';
export * from './tracker.js';
export * from './engine-tracker.js';
export * from './worker.js';
export * from './dead-letters.js';
export * from './object-locks.js';
export * from './chain.js';
