/**
 * The union of every run-time error code of `@s2sauth/issuer`, for a program that catches any
 * s2sauth error (`instanceof S2SAuthError`) and switches on `code`. `CertificateError` is not in it:
 * it is a start-up `TypeError` (misconfiguration), not a run-time error.
 */
import type { SigningCertificateErrorCode } from './identity/certificate-set.js';
import type { ClientAssertionErrorCode } from './sts/client-assertion.js';
import type { S2SClientErrorCode } from './partners/s2s-client-error.js';
import type { StsTokenErrorCode } from './sts/sts-token-error.js';

/** Every `code` of the issuer's `S2SAuthError`s: signing certificate, partner calls, STS tokens, client assertions. */
export type IssuerErrorCode = SigningCertificateErrorCode | S2SClientErrorCode | StsTokenErrorCode | ClientAssertionErrorCode;
