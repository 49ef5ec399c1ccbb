/** @packageDocumentation */
export * from './server.js';
