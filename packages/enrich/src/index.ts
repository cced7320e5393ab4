export * from './actor.js';
export * from './drift.js';
export * from './critical.js';
export * from './redact.js';
export * from './kinds.js';
