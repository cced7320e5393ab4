export * from './chain.js';
export * from './verify.js';
export * from './manifest.js';
export * from './derived.js';
