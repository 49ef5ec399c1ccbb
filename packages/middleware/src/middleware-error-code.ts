/**
 * The union of every run-time error code of `@s2sauth/middleware`, for a program that catches any
 * s2sauth error (`instanceof S2SAuthError`) and switches on `code`. Bearer-token refusals are
 * `@s2sauth/protocol`'s `BearerError`s (`ProtocolErrorCode`).
 */
import type { MetadataFetchErrorCode } from '@s2sauth/discovery';
import type { PartnerRegistryErrorCode } from './registry.js';

/** Every `code` of the middleware's `S2SAuthError`s: registry administration and metadata fetches. */
export type MiddlewareErrorCode = PartnerRegistryErrorCode | MetadataFetchErrorCode;
