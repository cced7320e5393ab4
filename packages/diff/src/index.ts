export * from './ops.js';
export * from './patch-apply.js';
export * from './kind.js';
export * from './history.js';
export * from './engine.js';
