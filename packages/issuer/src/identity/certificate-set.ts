/**
 * The rollover of protocol.md section 2, on the model of Lync's
 * `Set-CsCertificate -Type OAuthTokenIssuer -Roll -EffectiveDate` (Lync Server 2013
 * cmdlet reference): a server holds a `current` certificate, optionally a staged `next` with an
 * effective time, and optionally the `previous` one. The next certificate is published as soon as it
 * is staged, so partners that cache metadata know it before it signs anything.
 */
import { optionNames, refuseUnknownOptions, S2SAuthError, systemClock } from '@s2sauth/protocol';
import type { Clock } from '@s2sauth/protocol';
import { CertificateError, OAuthCertificate, type CertificateValidityProblem } from './certificate.js';

/** Stable codes of {@link SigningCertificateError}: the same words as `CertificateError`'s for the same facts. */
export type SigningCertificateErrorCode = CertificateValidityProblem['code'];

/**
 * No certificate can sign now (`CertificateSet.signing`): the signing certificate expired while the
 * server was running, or its validity has not begun. A run-time error (answer the request that
 * needed a token with a 503 and roll the certificate over), unlike the start-up `CertificateError`.
 */
export class SigningCertificateError extends S2SAuthError<SigningCertificateErrorCode> {
  constructor(problem: CertificateValidityProblem) {
    super(problem.code, problem.message);
  }
}

/** A certificate staged to become current at `effectiveAt`. */
export interface StagedCertificate {
  readonly certificate: OAuthCertificate;
  /** When it starts signing, ms since the epoch. */
  readonly effectiveAt: number;
}

/** Options of the {@link CertificateSet} constructor. */
export interface CertificateSetOptions {
  /** The certificate that signs now. */
  readonly current: OAuthCertificate;
  /** The certificate that signed before; published until it expires or is removed. */
  readonly previous?: OAuthCertificate;
  /** A staged rollover, e.g. restored from configuration; it must be valid at its effective time. */
  readonly next?: StagedCertificate;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

/** Options of {@link CertificateSet.stageNext}. */
export interface StageOptions {
  /** Stage even when less than 24 hours remain before the current certificate expires. Default false. */
  readonly force?: boolean;
}

const SET_OPTION_NAMES = optionNames<CertificateSetOptions>({ current: true, previous: true, next: true, clock: true });
const STAGE_OPTION_NAMES = optionNames<StageOptions>({ force: true });

/** How messages about the certificate that signs name it. */
const SIGNING_ROLE = 'The OAuth signing certificate';

/** Lync's minimum lead time for an OAuthTokenIssuer rollover (Lync Server 2013's `Set-CsCertificate -Roll`). */
const MINIMUM_LEAD_MS = 24 * 3_600_000;

/**
 * A server's signing certificates across a rollover (protocol.md section 2).
 *
 * Time passes through the clock: the first read at or after the staged certificate's effective time
 * makes it `current` and the old current `previous` (replacing any older previous), and an expired
 * previous is dropped on the first read after it expires. Each such change, like `stageNext` and
 * `removePrevious`, notifies the `onChange` listeners once, synchronously; a cache of the published
 * certificates (the metadata document) can rely on that or simply call `published()`, which is cheap.
 */
export class CertificateSet {
  #current: OAuthCertificate;
  #next: StagedCertificate | undefined;
  #previous: OAuthCertificate | undefined;
  readonly #clock: Clock;
  readonly #listeners = new Set<() => void>();

  /**
   * @throws TypeError when a certificate is not an `OAuthCertificate` or `effectiveAt` is not a
   *   finite number; CertificateError (`certificate_next_not_valid`) when the staged certificate is
   *   not valid at its effective time.
   */
  /**
   * The set an option given as either an `OAuthCertificate` (a set of one, on `clock`) or a
   * `CertificateSet` (used as it is) stands for: how every component taking `certificates` reads it.
   *
   * @param owner how the error names the option, e.g. `"stsRouter: options.certificates"`.
   * @throws TypeError when `certificates` is neither.
   */
  static from(certificates: unknown, clock: Clock, owner = 'options.certificates'): CertificateSet {
    if (certificates instanceof CertificateSet) return certificates;
    if (certificates instanceof OAuthCertificate) return new CertificateSet({ current: certificates, clock });
    throw new TypeError(`${owner} must be an OAuthCertificate or a CertificateSet.`);
  }

  constructor(options: CertificateSetOptions) {
    requireCertificate(options?.current, 'current');
    refuseUnknownOptions('new CertificateSet', options, SET_OPTION_NAMES);
    if (options.previous !== undefined) requireCertificate(options.previous, 'previous');
    this.#current = options.current;
    this.#previous = options.previous;
    this.#clock = options.clock ?? systemClock;
    if (options.next !== undefined) {
      requireCertificate(options.next.certificate, 'next.certificate');
      requireTime(options.next.effectiveAt, 'next.effectiveAt');
      requireValidAtEffectiveTime(options.next.certificate, options.next.effectiveAt);
      this.#next = { certificate: options.next.certificate, effectiveAt: options.next.effectiveAt };
    }
  }

  /** The certificate that signs now (after any rollover the clock has passed). */
  get current(): OAuthCertificate {
    this.#advance();
    return this.#current;
  }

  /** The staged certificate and its effective time, until that time comes. */
  get next(): StagedCertificate | undefined {
    this.#advance();
    return this.#next;
  }

  /** The certificate that signed before the last rollover, until it expires or is removed. */
  get previous(): OAuthCertificate | undefined {
    this.#advance();
    return this.#previous;
  }

  /**
   * The certificate to sign with at `at` (default: now): the staged one once `at` reaches its
   * effective time, else the current one. Never returns a certificate that is not valid at `at`.
   *
   * @throws SigningCertificateError (`certificate_expired`, `certificate_not_yet_valid`) when that
   *   certificate is not valid at `at`: an expired certificate never signs.
   */
  signing(at?: number): OAuthCertificate {
    const [signer, moment] = this.#signerAt(at);
    const problem = signer.validityProblemAt(moment, SIGNING_ROLE);
    if (problem !== undefined) throw new SigningCertificateError(problem);
    return signer;
  }

  /**
   * `signing(at)` for a start-up check (a constructor that takes this set): the same certificate,
   * but a certificate that cannot sign is the misconfiguration it is at start-up.
   *
   * @throws CertificateError (a `TypeError`: `certificate_expired`, `certificate_not_yet_valid`).
   */
  requireSigning(at?: number): OAuthCertificate {
    const [signer, moment] = this.#signerAt(at);
    signer.checkValidAt(moment, SIGNING_ROLE);
    return signer;
  }

  /** The certificate that signs at `at` (default now) and that moment, validity unchecked. */
  #signerAt(at: number | undefined): [OAuthCertificate, number] {
    const now = this.#advance();
    const moment = at ?? now;
    const next = this.#next;
    return [next !== undefined && moment >= next.effectiveAt ? next.certificate : this.#current, moment];
  }

  /**
   * The certificates to publish in metadata at `at` (default: now): the signing one first (some
   * consumers, like SharePoint's TokenHelper, read only the first key), then the other of
   * current/next (next from the moment it is staged), then previous. Expired certificates are left
   * out, so the list can be empty; a staged certificate whose validity has not begun is included.
   */
  published(at?: number): OAuthCertificate[] {
    const now = this.#advance();
    const moment = at ?? now;
    const next = this.#next;
    const ordered =
      next === undefined
        ? [this.#current]
        : moment >= next.effectiveAt
          ? [next.certificate, this.#current]
          : [this.#current, next.certificate];
    if (this.#previous !== undefined) ordered.push(this.#previous);
    const seen = new Set<string>();
    return ordered.filter((certificate) => {
      if (moment > certificate.notAfter || seen.has(certificate.x5tS256)) return false;
      seen.add(certificate.x5tS256);
      return true;
    });
  }

  /**
   * Stages `certificate` to start signing at `effectiveAt` (ms), replacing any earlier staged one;
   * it is published from now on. An `effectiveAt` already passed rolls over at once.
   *
   * @throws CertificateError: `certificate_rollover_too_late` when less than 24 hours remain before
   *   the current certificate expires (unless `force`); `certificate_effective_after_expiry` when
   *   `effectiveAt` is after the current certificate's expiry, which would leave nothing to sign
   *   with in between (when the current one has already expired, `effectiveAt` must not be in the
   *   future); `certificate_next_not_valid` when `certificate` is not valid at the time it would
   *   start signing; `certificate_already_current`.
   * @throws TypeError when `certificate` is not an `OAuthCertificate`, `effectiveAt` not a finite
   *   number, or an option is unknown.
   */
  stageNext(certificate: OAuthCertificate, effectiveAt: number, options: StageOptions = {}): void {
    refuseUnknownOptions('CertificateSet.stageNext', options, STAGE_OPTION_NAMES);
    requireCertificate(certificate, 'certificate');
    requireTime(effectiveAt, 'effectiveAt');
    const now = this.#advance();
    const current = this.#current;
    if (certificate.x5tS256 === current.x5tS256) {
      throw new CertificateError('certificate_already_current', `The certificate ${certificate.x5t} is already the current OAuth certificate.`);
    }
    if (current.notAfter - now < MINIMUM_LEAD_MS && options.force !== true) {
      throw new CertificateError(
        'certificate_rollover_too_late',
        `The current OAuth certificate ${current.x5t} expires on ${iso(current.notAfter)}, less than 24 hours from now; ` +
          'partners may not fetch the new certificate in time. Stage the rollover with force to do it anyway.',
      );
    }
    if (effectiveAt > current.notAfter && effectiveAt > now) {
      throw new CertificateError(
        'certificate_effective_after_expiry',
        `The rollover would take effect on ${iso(effectiveAt)}, after the current OAuth certificate ${current.x5t} ` +
          `expires on ${iso(current.notAfter)}; nothing could sign in between.`,
      );
    }
    requireValidAtEffectiveTime(certificate, Math.max(effectiveAt, now));
    this.#next = { certificate, effectiveAt };
    this.#advance(false);
    this.#notify();
  }

  /** Stops publishing the previous certificate (Lync's `Remove-CsCertificate -Previous`). */
  removePrevious(): void {
    this.#advance();
    if (this.#previous === undefined) return;
    this.#previous = undefined;
    this.#notify();
  }

  /**
   * Calls `listener` after each change of the set: staging, rollover, removal or expiry of the
   * previous certificate. Returns a function that removes the listener. A listener that throws
   * does not stop the others or the operation; its error is reported as a process warning.
   */
  onChange(listener: () => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('onChange: listener must be a function.');
    const entry = (): void => listener();
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Applies what the clock has passed; returns the clock's time. */
  #advance(notify = true): number {
    const now = this.#clock();
    let changed = false;
    if (this.#next !== undefined && now >= this.#next.effectiveAt) {
      this.#previous = this.#current;
      this.#current = this.#next.certificate;
      this.#next = undefined;
      changed = true;
    }
    if (this.#previous !== undefined && now > this.#previous.notAfter) {
      this.#previous = undefined;
      changed = true;
    }
    if (changed && notify) this.#notify();
    return now;
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener();
      } catch (error) {
        process.emitWarning(`A CertificateSet change listener threw: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

function requireCertificate(value: unknown, option: string): void {
  if (!(value instanceof OAuthCertificate)) throw new TypeError(`${option} must be an OAuthCertificate.`);
}

function requireTime(value: unknown, option: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`${option} must be a time in milliseconds since the epoch.`);
  }
}

function requireValidAtEffectiveTime(certificate: OAuthCertificate, at: number): void {
  if (!certificate.isValidAt(at)) {
    throw new CertificateError(
      'certificate_next_not_valid',
      `The staged OAuth certificate ${certificate.x5t} is not valid on ${iso(at)}, when it would start signing ` +
        `(it is valid from ${iso(certificate.notBefore)} to ${iso(certificate.notAfter)}).`,
    );
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
