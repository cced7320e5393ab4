export * from './chain.js';
export * from './verify.js';
export * from './manifest.js';
