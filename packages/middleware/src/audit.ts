/**
 * The audit trail of protocol.md section 7: every accept and every reject is written, with the
 * precise internal reason that the caller never sees.
 *
 * An audit event never contains a token, a key, a certificate or a header value. Its fields come
 * from the registration (partner, application id) or from claims of a token whose signature was
 * verified (audience, user, token id); the `reason` is fixed text written by s2sauth.
 */
import { pino, type Logger } from 'pino';
import type { FailureCode } from '@s2sauth/protocol';

/** One verification decision. */
export interface AuditEvent {
  readonly decision: 'accept' | 'reject';
  /** The failure code of a reject (errors.ts). */
  readonly code?: FailureCode;
  /** Precisely what was wrong, for a reject; never token content. */
  readonly reason?: string;
  /** The partner's registration identity, once the token's issuer resolved to one. */
  readonly partner?: string;
  /** The partner's principal id, once resolved. */
  readonly applicationId?: string;
  /** The user (nameid, else upn, smtp or sip) of a verified user context. */
  readonly user?: string;
  /** The verified actor token's `aud`. */
  readonly audience?: string;
  /** The verified actor token's `jti`. */
  readonly tokenId?: string;
  /** The HTTP status the decision leads to (200 for an accept). */
  readonly status?: number;
  /** True when the accept came from the verification cache. */
  readonly cached?: boolean;
  /** The request method, when the caller passed it. */
  readonly method?: string;
  /** The request path, when the caller passed it. */
  readonly path?: string;
}

/**
 * Receives audit events. Called synchronously once per verification; it should not throw (if it
 * does, the error is swallowed so that auditing cannot change a decision or crash a request).
 */
export type AuditSink = (event: AuditEvent) => void;

/**
 * An audit sink that writes each event as one pino JSON line: accepts at level `info`, rejects at
 * `warn`, with the message `s2sauth accept` / `s2sauth reject`.
 *
 * @param logger the pino logger to write to; default `pino({ name: 's2sauth-audit' })`, which
 *   writes to standard output.
 */
export function pinoAuditSink(logger: Logger = pino({ name: 's2sauth-audit' })): AuditSink {
  return (event) => {
    if (event.decision === 'accept') logger.info({ ...event }, 's2sauth accept');
    else logger.warn({ ...event }, 's2sauth reject');
  };
}
