/** @packageDocumentation */
export * from './server.js';
export * from './client-key-sets.js';
