/**
 * The server-to-server state of an Express request: the verified principal (`req.s2s`, typed for
 * every Express application that imports `@s2sauth/middleware`), and, privately, the verifier that
 * authenticated the request, so that guards and the error handler answer with the same challenge
 * and write to the same audit log as the middleware that ran before them.
 */
import type { ChallengeParams } from '@s2sauth/protocol';
import type { AuditEvent } from './audit.js';
import type { S2SPrincipal } from './principal.js';
import type { Verifier } from './verifier.js';

declare global {
  // Express declares its Request in this global namespace so that middleware can extend it.
  namespace Express {
    interface Request {
      /**
       * The verified server-to-server call, set by `s2sAuth` or `S2SBearerStrategy` (protocol.md
       * section 3.3 step 9). Absent on requests they did not authenticate.
       */
      s2s?: S2SPrincipal;
    }
  }
}

/** What the adapters and guards need from a verifier. Internal: not exported from the package. */
export interface VerificationContext {
  readonly verifier: Verifier;
  /** The server's challenge parameters (realm, client_id, trusted_issuers); undefined if they cannot be had. */
  challenge(): ChallengeParams | undefined;
  /** Writes an audit event to the verifier's sink (never throws). */
  audit(event: AuditEvent): void;
}

/** The context of a verifier: its challenge, and its audit sink for decisions the verifier does not see. */
export function verificationContext(verifier: Verifier): VerificationContext {
  const sink: unknown = (verifier.options as { readonly audit?: unknown }).audit;
  return {
    verifier,
    challenge: () => {
      try {
        return verifier.challenge();
      } catch {
        // Answering without realm discovery beats not answering (the refusal stands either way).
        return undefined;
      }
    },
    audit: (event) => {
      if (typeof sink !== 'function') return;
      try {
        (sink as (event: AuditEvent) => void)(event);
      } catch {
        // An audit sink must not change a decision (audit.ts).
      }
    },
  };
}

const contexts = new WeakMap<object, VerificationContext>();

/** Remembers which verifier handles `request`. Internal: not exported from the package. */
export function attachVerificationContext(request: object, context: VerificationContext): void {
  contexts.set(request, context);
}

/** The verifier that handled `request`, if `s2sAuth` or the Passport strategy saw it. Internal. */
export function verificationContextOf(request: object): VerificationContext | undefined {
  return contexts.get(request);
}
