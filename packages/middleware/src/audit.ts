/**
 * The audit trail of protocol.md section 7: every accept and every reject is written, with the
 * precise internal reason that the caller never sees.
 *
 * An audit event never contains a token, a key, a certificate or a header value. Its fields come
 * from the registration (partner, application id) or from claims of a token whose signature was
 * verified (audience, user, token id); the `reason` is fixed text written by s2sauth.
 */
import { pino, type Logger } from 'pino';

/** What {@link auditDestination} returns: pino's SonicBoom stream (`flushSync()`, `flush()`, `end()`). */
export type AuditDestination = ReturnType<typeof pino.destination>;
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

/** Options of {@link auditDestination}. */
export interface AuditDestinationOptions {
  /** A file path or descriptor. Default 1 (standard output). */
  readonly dest?: string | number;
  /**
   * Write every line synchronously, before the audited call returns: nothing is ever held in
   * memory, at the price of one blocking `write(2)` per decision. Default false.
   */
  readonly sync?: boolean;
  /**
   * Asynchronous mode: bytes gathered before they are written, 0 to 16000 (0 starts a write for
   * every line as it comes). Default 4096.
   */
  readonly minLength?: number;
  /** Asynchronous mode: gathered lines are written at least this often, in ms (0: only by size). Default 1000. */
  readonly flushIntervalMs?: number;
}

/** The default `minLength` of {@link auditDestination}: about 10 to 20 audit lines per write. */
export const DEFAULT_AUDIT_BUFFER_BYTES = 4096;
/** The default `flushIntervalMs` of {@link auditDestination}. */
export const DEFAULT_AUDIT_FLUSH_INTERVAL_MS = 1000;

/**
 * The destination of the default audit logger: pino's own (SonicBoom), buffered.
 *
 * Every decision is written, none is sampled or dropped. By default lines are gathered and
 * written asynchronously once `minLength` bytes are waiting, and at least every
 * `flushIntervalMs`: about three times cheaper per decision than one write per line, which
 * matters on the verification-cache hit path. What is still in memory is written synchronously
 * when the process exits normally (the end of the event loop, `process.exit()`, an uncaught
 * exception): pino registers the stream for that. The trade-off: a process killed by a signal it
 * does not handle (SIGKILL, or SIGTERM/SIGINT without a handler), or that aborts, loses at most
 * the last `flushIntervalMs` of decisions, at most `minLength` bytes plus what was being written;
 * the same holds in a worker thread, where pino registers no exit flush (call `flushSync()` on the
 * stream before the worker ends). Where that is not acceptable, use `sync: true` (one
 * synchronous write per decision):
 *
 * ```ts
 * createVerifier({ ..., audit: pinoAuditSink(pino({ name: 's2sauth-audit' }, auditDestination({ sync: true }))) });
 * ```
 */
export function auditDestination(options: AuditDestinationOptions = {}): AuditDestination {
  const { dest = 1, sync = false, minLength = DEFAULT_AUDIT_BUFFER_BYTES, flushIntervalMs = DEFAULT_AUDIT_FLUSH_INTERVAL_MS } = options;
  if (typeof dest !== 'number' && (typeof dest !== 'string' || dest === '')) {
    throw new TypeError('auditDestination: dest must be a file path or a file descriptor');
  }
  if (typeof sync !== 'boolean') throw new TypeError('auditDestination: sync must be a boolean');
  if (!Number.isSafeInteger(minLength) || minLength < 0 || minLength > 16_000) {
    throw new TypeError('auditDestination: minLength must be an integer from 0 to 16000');
  }
  if (!Number.isSafeInteger(flushIntervalMs) || flushIntervalMs < 0) {
    throw new TypeError('auditDestination: flushIntervalMs must be a non-negative integer');
  }
  return sync
    ? pino.destination({ dest, sync: true, minLength: 0 })
    : pino.destination({ dest, sync: false, minLength, ...(minLength > 0 && flushIntervalMs > 0 ? { periodicFlush: flushIntervalMs } : {}) });
}

let defaultLogger: Logger | undefined;

/**
 * The default audit logger, one per process: one buffered stream on standard output and one
 * flush timer (unref'd), however many verifiers use the default sink.
 */
function defaultAuditLogger(): Logger {
  defaultLogger ??= pino({ name: 's2sauth-audit' }, auditDestination());
  return defaultLogger;
}

/**
 * An audit sink that writes each event as one pino JSON line: accepts at level `info`, rejects at
 * `warn`, with the message `s2sauth accept` / `s2sauth reject`.
 *
 * The event is handed to pino as it is (pino only reads it): the verifier and the adapters build
 * a fresh object per decision.
 *
 * @param logger the pino logger to write to; default `pino({ name: 's2sauth-audit' },
 *   auditDestination())`, which writes to standard output, buffered (see {@link auditDestination}
 *   for what that means on exit, and how to write synchronously instead).
 */
export function pinoAuditSink(logger: Logger = defaultAuditLogger()): AuditSink {
  return (event) => {
    if (event.decision === 'accept') logger.info(event, 's2sauth accept');
    else logger.warn(event, 's2sauth reject');
  };
}
