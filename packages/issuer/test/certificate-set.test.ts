import { expect } from 'chai';
import { S2SAuthError } from '@s2sauth/protocol';
import { CertificateError, OAuthCertificate } from '../src/identity/certificate.js';
import { CertificateSet, SigningCertificateError } from '../src/identity/certificate-set.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2030, 0, 1);

function expectCertificateError(action: () => unknown, code: string): CertificateError {
  try {
    action();
  } catch (error) {
    expect(error).to.be.instanceOf(CertificateError);
    expect((error as CertificateError).code).to.equal(code);
    return error as CertificateError;
  }
  throw new Error(`expected a CertificateError ${code}`);
}

/** The run-time refusal of `signing()`: an `S2SAuthError` with a stable code, not a start-up `TypeError`. */
function expectSigningError(action: () => unknown, code: string): SigningCertificateError {
  try {
    action();
  } catch (error) {
    expect(error).to.be.instanceOf(SigningCertificateError);
    expect(error).to.be.instanceOf(S2SAuthError);
    expect(error).not.to.be.instanceOf(TypeError);
    expect((error as SigningCertificateError).code).to.equal(code);
    expect((error as SigningCertificateError).name).to.equal('SigningCertificateError');
    return error as SigningCertificateError;
  }
  throw new Error(`expected a SigningCertificateError ${code}`);
}

describe('CertificateSet', () => {
  /** Valid T0 .. T0 + 365 days. */
  let current: OAuthCertificate;
  /** Valid T0 + 300 days .. T0 + 665 days: the planned successor. */
  let successor: OAuthCertificate;
  /** Valid T0 .. T0 + 730 days: another successor. */
  let alternative: OAuthCertificate;
  /** Valid only from T0 + 400 days, after `current` expires. */
  let tooLate: OAuthCertificate;
  /** Valid around the real time, for the system clock. */
  let validNow: OAuthCertificate;

  let now: number;
  const clock = (): number => now;

  before(async () => {
    [current, successor, alternative, tooLate, validNow] = await Promise.all([
      OAuthCertificate.create({ realms: ['contoso.com'], notBefore: new Date(T0), validityDays: 365 }),
      OAuthCertificate.create({ realms: ['contoso.com'], notBefore: new Date(T0 + 300 * DAY), validityDays: 365 }),
      OAuthCertificate.create({ realms: ['contoso.com'], notBefore: new Date(T0), validityDays: 730 }),
      OAuthCertificate.create({ realms: ['contoso.com'], notBefore: new Date(T0 + 400 * DAY), validityDays: 365 }),
      OAuthCertificate.create({ realms: ['contoso.com'] }),
    ]);
  });

  beforeEach(() => {
    now = T0 + 10 * DAY;
  });

  describe('rollover', () => {
    const effectiveAt = T0 + 330 * DAY;
    let set: CertificateSet;
    let changes: number;

    beforeEach(() => {
      set = new CertificateSet({ current, clock });
      changes = 0;
      set.onChange(() => {
        changes += 1;
      });
      now = T0 + 320 * DAY;
      set.stageNext(successor, effectiveAt);
    });

    it('publishes the next certificate as soon as it is staged but keeps signing with the current one', () => {
      expect(changes).to.equal(1);
      expect(set.signing()).to.equal(current);
      expect(set.published()).to.deep.equal([current, successor]);
      expect(set.current).to.equal(current);
      expect(set.next).to.deep.equal({ certificate: successor, effectiveAt });
      expect(set.previous).to.equal(undefined);
    });

    it('signs with the next certificate from its effective time on', () => {
      now = effectiveAt;
      expect(set.signing()).to.equal(successor);
      expect(set.current).to.equal(successor);
      expect(set.previous).to.equal(current);
      expect(set.next).to.equal(undefined);
      expect(set.published()).to.deep.equal([successor, current]);
    });

    it('notifies the listeners of the rollover once', () => {
      now = effectiveAt + HOUR;
      set.signing();
      set.published();
      void set.current;
      expect(changes).to.equal(2);
    });

    it('answers for a later moment without rolling over before the clock gets there', () => {
      expect(set.signing(effectiveAt)).to.equal(successor);
      expect(set.published(effectiveAt)).to.deep.equal([successor, current]);
      expect(set.signing(effectiveAt - 1)).to.equal(current);
      expect(set.current).to.equal(current);
      expect(changes).to.equal(1);
    });

    it('publishes the previous certificate until it expires', () => {
      now = current.notAfter;
      expect(set.published()).to.deep.equal([successor, current]);
      now = current.notAfter + 1;
      expect(set.published()).to.deep.equal([successor]);
      expect(set.previous).to.equal(undefined);
      expect(changes).to.equal(3);
    });

    it('publishes the previous certificate until it is removed', () => {
      now = effectiveAt + DAY;
      expect(set.published()).to.deep.equal([successor, current]);
      set.removePrevious();
      expect(set.published()).to.deep.equal([successor]);
      expect(changes).to.equal(3);
      set.removePrevious();
      expect(changes).to.equal(3);
    });

    it('replaces an earlier staged certificate', () => {
      set.stageNext(alternative, effectiveAt + DAY);
      expect(changes).to.equal(2);
      expect(set.published()).to.deep.equal([current, alternative]);
      expect(set.next).to.deep.equal({ certificate: alternative, effectiveAt: effectiveAt + DAY });
      now = effectiveAt;
      expect(set.signing()).to.equal(current);
    });

    it('stops listening after unsubscribing', () => {
      const set2 = new CertificateSet({ current, clock });
      let calls = 0;
      const unsubscribe = set2.onChange(() => {
        calls += 1;
      });
      unsubscribe();
      set2.stageNext(alternative, now + DAY);
      expect(calls).to.equal(0);
    });
  });

  describe('stageNext', () => {
    it('refuses a rollover with less than 24 hours left on the current certificate', () => {
      const set = new CertificateSet({ current, clock });
      now = current.notAfter - 23 * HOUR;
      const error = expectCertificateError(() => set.stageNext(alternative, now + HOUR), 'certificate_rollover_too_late');
      expect(error.message).to.contain('less than 24 hours from now');
      expect(set.next).to.equal(undefined);
    });

    it('accepts a late rollover when forced', () => {
      const set = new CertificateSet({ current, clock });
      now = current.notAfter - 23 * HOUR;
      set.stageNext(alternative, now + HOUR, { force: true });
      expect(set.published()).to.deep.equal([current, alternative]);
      now += HOUR;
      expect(set.signing()).to.equal(alternative);
    });

    it('accepts a rollover with exactly 24 hours left', () => {
      const set = new CertificateSet({ current, clock });
      now = current.notAfter - 24 * HOUR;
      set.stageNext(alternative, now + HOUR);
      expect(set.next?.certificate).to.equal(alternative);
    });

    it('refuses an effective time after the current certificate expires, even when forced', () => {
      const set = new CertificateSet({ current, clock });
      const error = expectCertificateError(() => set.stageNext(alternative, current.notAfter + 1, { force: true }), 'certificate_effective_after_expiry');
      expect(error.message).to.contain('nothing could sign in between');
    });

    it('refuses a certificate that is not valid at its effective time', () => {
      const set = new CertificateSet({ current, clock });
      const error = expectCertificateError(() => set.stageNext(tooLate, T0 + 360 * DAY), 'certificate_next_not_valid');
      expect(error.message).to.contain(`${tooLate.x5t} is not valid on ${new Date(T0 + 360 * DAY).toISOString()}`);
    });

    it('refuses to stage the current certificate', () => {
      const set = new CertificateSet({ current, clock });
      expectCertificateError(() => set.stageNext(current, now + DAY), 'certificate_already_current');
    });

    it('rolls over at once when the effective time has passed, notifying once', () => {
      const set = new CertificateSet({ current, clock });
      let changes = 0;
      set.onChange(() => {
        changes += 1;
      });
      set.stageNext(alternative, now - HOUR);
      expect(changes).to.equal(1);
      expect(set.current).to.equal(alternative);
      expect(set.previous).to.equal(current);
      expect(set.signing()).to.equal(alternative);
    });

    it('replaces an expired current certificate at once when forced', () => {
      const set = new CertificateSet({ current, clock });
      now = current.notAfter + DAY;
      expectSigningError(() => set.signing(), 'certificate_expired');
      expectCertificateError(() => set.stageNext(alternative, now), 'certificate_rollover_too_late');
      expectCertificateError(() => set.stageNext(alternative, now + HOUR, { force: true }), 'certificate_effective_after_expiry');
      set.stageNext(alternative, now, { force: true });
      expect(set.signing()).to.equal(alternative);
      expect(set.published()).to.deep.equal([alternative]);
    });

    it('refuses arguments of the wrong type', () => {
      const set = new CertificateSet({ current, clock });
      expect(() => set.stageNext({} as OAuthCertificate, now + DAY)).to.throw(TypeError, 'certificate must be an OAuthCertificate.');
      expect(() => set.stageNext(alternative, Number.NaN)).to.throw(TypeError, 'effectiveAt must be a time');
      expect(() => set.stageNext(alternative, String(now + DAY) as unknown as number)).to.throw(TypeError, 'effectiveAt must be a time');
    });
  });

  describe('signing', () => {
    it('never signs with an expired certificate', () => {
      const set = new CertificateSet({ current, clock });
      now = current.notAfter + 1;
      const error = expectSigningError(() => set.signing(), 'certificate_expired');
      expect(error.message).to.equal(`The OAuth signing certificate ${current.x5t} expired on ${new Date(current.notAfter).toISOString()}.`);
      expect(set.published()).to.deep.equal([]);
    });

    it('refuses the same expired certificate at start-up (requireSigning) as a CertificateError, a TypeError', () => {
      const set = new CertificateSet({ current, clock });
      now = current.notAfter + 1;
      const error = expectCertificateError(() => set.requireSigning(), 'certificate_expired');
      expect(error).to.be.instanceOf(TypeError);
      expect(error).not.to.be.instanceOf(S2SAuthError);
      expect(error.message).to.equal(`The OAuth signing certificate ${current.x5t} expired on ${new Date(current.notAfter).toISOString()}.`);
      now = current.notBefore;
      expect(set.requireSigning()).to.equal(current);
    });

    it('never signs with a certificate that is not valid yet', () => {
      const set = new CertificateSet({ current: successor, clock });
      expectSigningError(() => set.signing(), 'certificate_not_yet_valid');
      expectCertificateError(() => set.requireSigning(), 'certificate_not_yet_valid');
      expect(set.published()).to.deep.equal([successor]);
    });

    it('uses the system clock by default', () => {
      const set = new CertificateSet({ current: validNow });
      expect(set.signing()).to.equal(validNow);
      expect(set.published()).to.deep.equal([validNow]);
    });
  });

  describe('constructor', () => {
    it('refuses an unknown option name, and one of stageNext', () => {
      expect(() => new CertificateSet({ current, clock, nxt: { certificate: successor, effectiveAt: T0 } } as never)).to.throw(
        TypeError,
        'new CertificateSet: unknown option "nxt"; the options are current, previous, next, clock.',
      );
      const set = new CertificateSet({ current, clock });
      expect(() => set.stageNext(alternative, now + 30 * DAY, { forced: true } as never)).to.throw(
        TypeError,
        'CertificateSet.stageNext: unknown option "forced"; the options are force.',
      );
      expect(set.next).to.equal(undefined);
    });

    it('restores a staged rollover and a previous certificate', () => {
      const set = new CertificateSet({ current: alternative, previous: current, next: { certificate: successor, effectiveAt: T0 + 330 * DAY }, clock });
      expect(set.published()).to.deep.equal([alternative, successor, current]);
      now = T0 + 330 * DAY;
      expect(set.published()).to.deep.equal([successor, alternative]);
    });

    it('publishes a certificate once even when it appears twice', () => {
      const set = new CertificateSet({ current, previous: current, clock });
      expect(set.published()).to.deep.equal([current]);
    });

    it('refuses options of the wrong type', () => {
      expect(() => new CertificateSet(undefined as never)).to.throw(TypeError, 'current must be an OAuthCertificate.');
      expect(() => new CertificateSet({ current, previous: 'x' as never })).to.throw(TypeError, 'previous must be an OAuthCertificate.');
      expect(() => new CertificateSet({ current, next: { certificate: 'x' as never, effectiveAt: T0 } })).to.throw(TypeError, 'next.certificate');
      expect(() => new CertificateSet({ current, next: { certificate: successor, effectiveAt: Infinity } })).to.throw(TypeError, 'next.effectiveAt');
    });

    it('refuses a staged certificate that is not valid at its effective time', () => {
      expectCertificateError(() => new CertificateSet({ current, next: { certificate: tooLate, effectiveAt: T0 + 100 * DAY }, clock }), 'certificate_next_not_valid');
    });
  });

  describe('onChange', () => {
    it('keeps notifying the other listeners when one throws, and reports it as a warning', () => {
      const set = new CertificateSet({ current, clock });
      const warnings: string[] = [];
      const emitWarning = process.emitWarning;
      process.emitWarning = ((warning: string | Error) => {
        warnings.push(String(warning));
      }) as typeof process.emitWarning;
      let called = false;
      try {
        set.onChange(() => {
          throw new Error('listener failed');
        });
        set.onChange(() => {
          throw 'plain';
        });
        set.onChange(() => {
          called = true;
        });
        set.stageNext(alternative, now + DAY);
      } finally {
        process.emitWarning = emitWarning;
      }
      expect(called).to.equal(true);
      expect(set.next?.certificate).to.equal(alternative);
      expect(warnings).to.deep.equal(['A CertificateSet change listener threw: listener failed', 'A CertificateSet change listener threw: plain']);
    });

    it('refuses a listener that is not a function', () => {
      const set = new CertificateSet({ current, clock });
      expect(() => set.onChange('x' as never)).to.throw(TypeError, 'listener must be a function');
    });
  });
});
