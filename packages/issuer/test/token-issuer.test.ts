import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { buildJwks, parseJws, readActorClaims, readOuterClaims, WellKnownPrincipal } from '@s2sauth/protocol';
import { CertificateError, OAuthCertificate } from '../src/identity/certificate.js';
import { CertificateSet, SigningCertificateError } from '../src/identity/certificate-set.js';
import { TokenIssuer, type ActorTokenRequest, type TokenIssuerOptions } from '../src/identity/token-issuer.js';

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Start of the test certificates' validity; the clock runs from here, 123 ms into a second. */
const T0 = Date.UTC(2031, 5, 1);

const LYNC = WellKnownPrincipal.lync;
const REALM = 'contoso.com';
const ISSUER_ID = `${LYNC}@${REALM}`;
const EXCHANGE_AUDIENCE = `${WellKnownPrincipal.exchange}/mail.contoso.com@${REALM}`;

/** The header protocol.md section 3 prescribes, byte for byte. */
function expectedHeader(certificate: OAuthCertificate): string {
  return `{"typ":"JWT","alg":"RS256","x5t":"${certificate.x5t}","kid":"${certificate.x5t}"}`;
}

function segmentText(token: string, index: 0 | 1): string {
  return Buffer.from(token.split('.')[index] as string, 'base64url').toString('utf8');
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(segmentText(token, 1)) as Record<string, unknown>;
}

/** Verifies with jose (an independent implementation) against our own JWKS. */
async function verifyWithJose(token: string, certificates: readonly OAuthCertificate[], at: number, audience: string): Promise<JWTPayload> {
  const jwks = createLocalJWKSet(buildJwks(certificates.map((c) => c.certificate)) as never);
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    algorithms: ['RS256'],
    typ: 'JWT',
    audience,
    currentDate: new Date(at),
  });
  expect(protectedHeader.alg).to.equal('RS256');
  return payload;
}

function expectTypeError(action: () => unknown, pattern: RegExp): void {
  expect(action).to.throw(TypeError, pattern);
}

function expectCertificateError(action: () => unknown, code: string): void {
  try {
    action();
  } catch (error) {
    expect(error).to.be.instanceOf(CertificateError);
    expect((error as CertificateError).code).to.equal(code);
    return;
  }
  throw new Error(`expected a CertificateError ${code}`);
}

describe('TokenIssuer', () => {
  /** Valid T0 .. T0 + 365 days, realms contoso.com and lync.contoso.com. */
  let primary: OAuthCertificate;
  /** The rollover successor, valid T0 .. T0 + 730 days. */
  let successor: OAuthCertificate;
  /** For another realm only. */
  let fabrikam: OAuthCertificate;

  let now: number;
  const clock = (): number => now;

  function issuer(extra: Partial<TokenIssuerOptions> = {}): TokenIssuer {
    return new TokenIssuer({ principal: LYNC, realm: REALM, certificates: primary, clock, ...extra });
  }

  before(async () => {
    [primary, successor, fabrikam] = await Promise.all([
      OAuthCertificate.create({ realms: [REALM, 'lync.contoso.com'], notBefore: new Date(T0), validityDays: 365 }),
      OAuthCertificate.create({ realms: [REALM], notBefore: new Date(T0), validityDays: 730 }),
      OAuthCertificate.create({ realms: ['fabrikam.com'], notBefore: new Date(T0), validityDays: 365 }),
    ]);
  });

  beforeEach(() => {
    now = T0 + 10 * DAY + 123;
  });

  describe('app-only actor tokens', () => {
    it('carries exactly the header and claims of protocol.md section 3.1 and verifies with jose', async () => {
      const issued = issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE });
      expect(segmentText(issued.token, 0)).to.equal(expectedHeader(primary));

      const payload = await verifyWithJose(issued.token, [primary], now, EXCHANGE_AUDIENCE);
      const nbf = Math.floor(now / SECOND);
      expect(payload).to.deep.equal({
        aud: EXCHANGE_AUDIENCE,
        iss: ISSUER_ID,
        nameid: ISSUER_ID,
        nbf,
        exp: nbf + 3600,
        iat: nbf,
        jti: issued.jti,
      });
      expect(Object.keys(payloadOf(issued.token))).to.deep.equal(['aud', 'iss', 'nameid', 'nbf', 'exp', 'iat', 'jti']);
      expect(issued.notBefore).to.equal(nbf * SECOND);
      expect(issued.expiresAt).to.equal((nbf + 3600) * SECOND);
    });

    it('passes the strict protocol parser and claim reader', () => {
      const { token } = issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE, scopes: ['contacts.read'] });
      const parsed = parseJws(token);
      expect(parsed.header).to.deep.equal({ typ: 'JWT', alg: 'RS256', x5t: primary.x5t, kid: primary.x5t });
      const claims = readActorClaims(parsed.payload);
      expect(claims.iss).to.equal(ISSUER_ID);
      expect(claims.trustedfordelegation).to.equal(undefined);
      expect(claims.scp).to.equal('contacts.read');
    });

    it('uses a jti of 128 random bits, base64url, different for every token', () => {
      const tokens = issuer();
      const seen = new Set<string>();
      for (let i = 0; i < 50; i++) {
        const { jti, token } = tokens.issueAppOnly({ audience: EXCHANGE_AUDIENCE });
        expect(jti).to.match(/^[A-Za-z0-9_-]{22}$/);
        expect(Buffer.from(jti, 'base64url')).to.have.length(16);
        expect(payloadOf(token)['jti']).to.equal(jti);
        seen.add(jti);
      }
      expect(seen.size).to.equal(50);
    });

    it('puts the scopes in scp, space-separated, in the order given', async () => {
      const { token } = issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE, scopes: ['contacts.read', 'archive.write'] });
      const payload = await verifyWithJose(token, [primary], now, EXCHANGE_AUDIENCE);
      expect(payload['scp']).to.equal('contacts.read archive.write');
      expect(Object.keys(payload).sort()).to.deep.equal(['aud', 'exp', 'iat', 'iss', 'jti', 'nameid', 'nbf', 'scp']);
    });

    it('sends an empty scp for an empty scope list, which grants nothing', () => {
      const { token } = issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE, scopes: [] });
      expect(payloadOf(token)['scp']).to.equal('');
    });

    it('accepts the audience as an object and lower-cases its authority', () => {
      const { token } = issuer().issueAppOnly({
        audience: { principal: WellKnownPrincipal.exchange, authority: 'Mail.Contoso.COM:8443', realm: REALM },
      });
      expect(payloadOf(token)['aud']).to.equal(`${WellKnownPrincipal.exchange}/mail.contoso.com:8443@${REALM}`);
    });

    it('adds extra claims after the protocol claims without touching them', async () => {
      const { token } = issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE, claims: { tenantname: 'Contoso', tier: 2, pilot: true } });
      const payload = await verifyWithJose(token, [primary], now, EXCHANGE_AUDIENCE);
      expect(payload).to.include({ tenantname: 'Contoso', tier: 2, pilot: true, iss: ISSUER_ID, aud: EXCHANGE_AUDIENCE });
      expect(Object.keys(payloadOf(token))).to.deep.equal(['aud', 'iss', 'nameid', 'nbf', 'exp', 'iat', 'jti', 'tenantname', 'tier', 'pilot']);
    });

    it('uses whole seconds of the injected clock for nbf, iat and exp', () => {
      now = T0 + 20 * DAY + 999;
      const { token } = issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE });
      const payload = payloadOf(token);
      expect(payload['nbf']).to.equal(Math.floor((T0 + 20 * DAY) / SECOND));
      expect(payload['iat']).to.equal(payload['nbf']);
    });

    it('reads the system clock when no clock is given', async () => {
      const live = await OAuthCertificate.create({ realms: [REALM] });
      const before = Math.floor(Date.now() / SECOND);
      const issued = new TokenIssuer({ principal: LYNC, realm: REALM, certificates: live }).issueAppOnly({ audience: EXCHANGE_AUDIENCE });
      const nbf = payloadOf(issued.token)['nbf'] as number;
      expect(nbf).to.be.within(before, Math.floor(Date.now() / SECOND));
      await verifyWithJose(issued.token, [live], Date.now(), EXCHANGE_AUDIENCE);
    });

    it('exposes its issuer id', () => {
      expect(issuer().issuerId).to.equal(ISSUER_ID);
    });
  });

  describe('tokens with a user context', () => {
    it('wraps an actor with trustedfordelegation in an outer token signed with the same key', async () => {
      const issued = issuer().issueForUser(
        { audience: EXCHANGE_AUDIENCE, scopes: ['contacts.read'] },
        { nameid: 'alice@contoso.com', smtp: 'alice@contoso.com', sip: 'sip:alice@contoso.com', upn: 'alice@corp.contoso.com' },
      );
      expect(segmentText(issued.token, 0)).to.equal(expectedHeader(primary));
      const outer = await verifyWithJose(issued.token, [primary], now, EXCHANGE_AUDIENCE);
      const nbf = Math.floor(now / SECOND);
      const actortoken = outer['actortoken'];
      expect(actortoken).to.be.a('string');
      expect(outer).to.deep.equal({
        aud: EXCHANGE_AUDIENCE,
        iss: ISSUER_ID,
        nbf,
        exp: nbf + 3600,
        nameid: 'alice@contoso.com',
        nii: 'urn:office:idp:activedirectory',
        smtp: 'alice@contoso.com',
        sip: 'sip:alice@contoso.com',
        upn: 'alice@corp.contoso.com',
        actortoken,
      });

      expect(segmentText(actortoken as string, 0)).to.equal(expectedHeader(primary));
      const actor = await verifyWithJose(actortoken as string, [primary], now, EXCHANGE_AUDIENCE);
      expect(actor).to.deep.equal({
        aud: EXCHANGE_AUDIENCE,
        iss: ISSUER_ID,
        nameid: ISSUER_ID,
        nbf,
        exp: nbf + 3600,
        iat: nbf,
        jti: issued.jti,
        trustedfordelegation: 'true',
        scp: 'contacts.read',
      });
      expect(issued.notBefore).to.equal(nbf * SECOND);
      expect(issued.expiresAt).to.equal((nbf + 3600) * SECOND);
    });

    it('emits only nameid and the default nii when no addresses are given', () => {
      const { token } = issuer().issueForUser({ audience: EXCHANGE_AUDIENCE }, { nameid: 'bob@contoso.com' });
      expect(Object.keys(payloadOf(token))).to.deep.equal(['aud', 'iss', 'nbf', 'exp', 'nameid', 'nii', 'actortoken']);
      expect(payloadOf(token)['nii']).to.equal('urn:office:idp:activedirectory');
    });

    it('uses the nii given', () => {
      const { token } = issuer().issueForUser({ audience: EXCHANGE_AUDIENCE }, { nameid: 'S-1-5-21-1', nii: 'urn:federation:microsoftonline' });
      expect(payloadOf(token)['nii']).to.equal('urn:federation:microsoftonline');
    });

    it('passes the strict protocol parser and claim readers, outer and actor', () => {
      const { token } = issuer().issueForUser({ audience: EXCHANGE_AUDIENCE }, { nameid: 'alice@contoso.com' });
      const outer = parseJws(token);
      expect(outer.header).to.deep.equal({ typ: 'JWT', alg: 'RS256', x5t: primary.x5t, kid: primary.x5t });
      const outerClaims = readOuterClaims(outer.payload);
      const actor = parseJws(outerClaims.actortoken);
      const actorClaims = readActorClaims(actor.payload);
      expect(outerClaims.iss).to.equal(actorClaims.nameid);
      expect(outerClaims.aud).to.equal(actorClaims.aud);
      expect([outerClaims.nbf, outerClaims.exp]).to.deep.equal([actorClaims.nbf, actorClaims.exp]);
      expect(actorClaims.trustedfordelegation).to.equal('true');
    });

    it('gives the actor and outer tokens the lifetime of the request', () => {
      const issued = issuer().issueForUser({ audience: EXCHANGE_AUDIENCE, lifetimeSeconds: 600 }, { nameid: 'alice@contoso.com' });
      const outer = payloadOf(issued.token);
      const actor = payloadOf(outer['actortoken'] as string);
      expect((outer['exp'] as number) - (outer['nbf'] as number)).to.equal(600);
      expect((actor['exp'] as number) - (actor['nbf'] as number)).to.equal(600);
    });

    const badUsers: Array<[string, unknown]> = [
      ['no user', undefined],
      ['a user without nameid', {}],
      ['an empty nameid', { nameid: '' }],
      ['a nameid with a line break', { nameid: 'alice@contoso.com\r\nx' }],
      ['a nameid that is not a string', { nameid: 42 }],
      ['an empty nii', { nameid: 'alice@contoso.com', nii: '' }],
      ['an smtp with a control character', { nameid: 'alice@contoso.com', smtp: 'alice\u0000@contoso.com' }],
      ['an empty sip', { nameid: 'alice@contoso.com', sip: '' }],
      ['a upn that is not a string', { nameid: 'alice@contoso.com', upn: ['alice'] }],
    ];
    for (const [what, user] of badUsers) {
      it(`refuses ${what}`, () => {
        expectTypeError(() => issuer().issueForUser({ audience: EXCHANGE_AUDIENCE }, user as never), /^user/);
      });
    }
  });

  describe('claims that cannot be overridden', () => {
    const reserved = [
      'aud', 'iss', 'nameid', 'nbf', 'exp', 'iat', 'jti', 'scp', 'trustedfordelegation', 'actortoken', 'nii',
      'smtp', 'sip', 'upn', 'cnf', 'identityprovider', 'unique_name', 'altsecid',
      'typ', 'alg', 'kid', 'x5t', 'x5t#S256', 'x5c', 'x5u', 'jku', 'jwk', 'crit', 'cty', 'b64', 'enc', 'zip',
    ];
    for (const name of reserved) {
      it(`refuses to set ${name} through claims, naming it`, () => {
        const message = new RegExp(`reserved claim "${name.replace('#', '\\#')}"`);
        expectTypeError(() => issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE, claims: { [name]: 'x' } }), message);
        expectTypeError(() => issuer().issueForUser({ audience: EXCHANGE_AUDIENCE, claims: { [name]: 'x' } }, { nameid: 'a@contoso.com' }), message);
      });
    }

    it('refuses a claim named __proto__ rather than changing the payload prototype', () => {
      const claims = JSON.parse('{"__proto__":{"aud":"evil"}}') as Record<string, string>;
      expectTypeError(() => issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE, claims }), /reserved claim "__proto__"/);
    });

    const badClaims: Array<[string, unknown, RegExp]> = [
      ['claims that are not an object', 'tier=2', /request\.claims must be an object/],
      ['claims that are an array', ['a'], /request\.claims must be an object/],
      ['an empty claim name', { '': 'x' }, /empty name/],
      ['a claim name with a control character', { 'a\nb': 'x' }, /control characters/],
      ['a NaN value', { tier: Number.NaN }, /request\.claims\.tier/],
      ['an infinite value', { tier: Number.POSITIVE_INFINITY }, /request\.claims\.tier/],
      ['an object value', { tier: { level: 2 } }, /request\.claims\.tier/],
      ['a null value', { tier: null }, /request\.claims\.tier/],
    ];
    for (const [what, claims, pattern] of badClaims) {
      it(`refuses ${what}`, () => {
        expectTypeError(() => issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE, claims: claims as never }), pattern);
      });
    }
  });

  describe('requests', () => {
    const badRequests: Array<[string, unknown, RegExp]> = [
      ['no request', undefined, /request must be an object/],
      ['an audience without an authority', { audience: `${WellKnownPrincipal.exchange}@${REALM}` }, /request\.audience/],
      ['an audience with two @', { audience: `${EXCHANGE_AUDIENCE}@x` }, /request\.audience/],
      ['an audience with an uppercase principal', { audience: EXCHANGE_AUDIENCE.toUpperCase() }, /request\.audience/],
      ['an audience with a space', { audience: ` ${EXCHANGE_AUDIENCE}` }, /request\.audience/],
      ['an audience array', { audience: [EXCHANGE_AUDIENCE] }, /request\.audience/],
      ['an audience object with a bad authority', { audience: { principal: WellKnownPrincipal.exchange, authority: 'a b', realm: REALM } }, /request\.audience/],
      ['an audience object without a realm', { audience: { principal: WellKnownPrincipal.exchange, authority: 'mail.contoso.com' } }, /request\.audience/],
      ['an audience in another realm', { audience: `${WellKnownPrincipal.exchange}/mail.fabrikam.com@fabrikam.com` }, /realm fabrikam\.com/],
      ['scopes that are not an array', { audience: EXCHANGE_AUDIENCE, scopes: 'contacts.read' }, /request\.scopes/],
      ['an empty scope', { audience: EXCHANGE_AUDIENCE, scopes: [''] }, /request\.scopes/],
      ['a scope with a space', { audience: EXCHANGE_AUDIENCE, scopes: ['contacts.read archive'] }, /request\.scopes/],
      ['a scope with a control character', { audience: EXCHANGE_AUDIENCE, scopes: ['contacts\u0001'] }, /request\.scopes/],
      ['a scope with a quote', { audience: EXCHANGE_AUDIENCE, scopes: ['a"b'] }, /request\.scopes/],
      ['a scope that is not a string', { audience: EXCHANGE_AUDIENCE, scopes: [7] }, /request\.scopes/],
      ['a lifetime of zero', { audience: EXCHANGE_AUDIENCE, lifetimeSeconds: 0 }, /request\.lifetimeSeconds/],
      ['a fractional lifetime', { audience: EXCHANGE_AUDIENCE, lifetimeSeconds: 1.5 }, /request\.lifetimeSeconds/],
      ['a lifetime as text', { audience: EXCHANGE_AUDIENCE, lifetimeSeconds: '600' }, /request\.lifetimeSeconds/],
    ];
    for (const [what, request, pattern] of badRequests) {
      it(`refuses ${what}`, () => {
        expectTypeError(() => issuer().issueAppOnly(request as ActorTokenRequest), pattern);
        expectTypeError(() => issuer().issueForUser(request as ActorTokenRequest, { nameid: 'a@contoso.com' }), pattern);
      });
    }

    it('refuses delegation for an app-only token', () => {
      expectTypeError(() => issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE, delegation: true }), /issueForUser/);
    });

    it('refuses a user-context token without delegation', () => {
      expectTypeError(() => issuer().issueForUser({ audience: EXCHANGE_AUDIENCE, delegation: false }, { nameid: 'a@contoso.com' }), /delegation/);
    });

    it('accepts delegation flags that agree with the method', () => {
      expect(payloadOf(issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE, delegation: false }).token)).not.to.have.property('trustedfordelegation');
      const outer = payloadOf(issuer().issueForUser({ audience: EXCHANGE_AUDIENCE, delegation: true }, { nameid: 'a@contoso.com' }).token);
      expect(payloadOf(outer['actortoken'] as string)['trustedfordelegation']).to.equal('true');
    });
  });

  describe('lifetime', () => {
    function lifetimeOf(token: string): number {
      const payload = payloadOf(token);
      return (payload['exp'] as number) - (payload['nbf'] as number);
    }

    it('defaults to one hour', () => {
      expect(lifetimeOf(issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE }).token)).to.equal(3600);
    });

    it('follows the issuer setting and then the request', () => {
      const tokens = issuer({ lifetimeSeconds: 900 });
      expect(lifetimeOf(tokens.issueAppOnly({ audience: EXCHANGE_AUDIENCE }).token)).to.equal(900);
      expect(lifetimeOf(tokens.issueAppOnly({ audience: EXCHANGE_AUDIENCE, lifetimeSeconds: 60 }).token)).to.equal(60);
      expect(lifetimeOf(tokens.issueAppOnly({ audience: EXCHANGE_AUDIENCE, lifetimeSeconds: 3600 }).token)).to.equal(3600);
    });

    it('refuses a request above the cap of one hour', () => {
      expectTypeError(() => issuer().issueAppOnly({ audience: EXCHANGE_AUDIENCE, lifetimeSeconds: 3601 }), /maxLifetimeSeconds \(3600 s\)/);
    });

    it('allows a longer lifetime only when the cap is raised', () => {
      const tokens = issuer({ maxLifetimeSeconds: 7200 });
      expect(lifetimeOf(tokens.issueAppOnly({ audience: EXCHANGE_AUDIENCE }).token)).to.equal(3600);
      expect(lifetimeOf(tokens.issueAppOnly({ audience: EXCHANGE_AUDIENCE, lifetimeSeconds: 7200 }).token)).to.equal(7200);
      expectTypeError(() => tokens.issueAppOnly({ audience: EXCHANGE_AUDIENCE, lifetimeSeconds: 7201 }), /7200/);
    });

    it('defaults the lifetime to a lowered cap', () => {
      expect(lifetimeOf(issuer({ maxLifetimeSeconds: 300 }).issueAppOnly({ audience: EXCHANGE_AUDIENCE }).token)).to.equal(300);
    });
  });

  describe('options', () => {
    const badOptions: Array<[string, unknown, RegExp]> = [
      ['no options', undefined, /options must be an object/],
      ['an uppercase principal', { principal: LYNC.toUpperCase() }, /options\.principal/],
      ['an issuer id as principal', { principal: ISSUER_ID }, /options\.principal/],
      ['an uppercase realm', { realm: 'Contoso.com' }, /options\.realm/],
      ['a realm that is not a string', { realm: 1 }, /options\.realm/],
      ['a clock that is not a function', { clock: 5 }, /options\.clock/],
      ['a lifetime of zero', { lifetimeSeconds: 0 }, /options\.lifetimeSeconds/],
      ['a negative lifetime', { lifetimeSeconds: -60 }, /options\.lifetimeSeconds/],
      ['a lifetime above the cap', { lifetimeSeconds: 7200 }, /options\.lifetimeSeconds \(7200 s\) is longer than options\.maxLifetimeSeconds/],
      ['a cap above one day', { maxLifetimeSeconds: 86401 }, /options\.maxLifetimeSeconds/],
      ['a fractional cap', { maxLifetimeSeconds: 60.5 }, /options\.maxLifetimeSeconds/],
      ['certificates given as PEM', { certificates: '-----BEGIN CERTIFICATE-----' }, /options\.certificates/],
      ['no certificates', { certificates: undefined }, /options\.certificates/],
      [
        'a misspelt option name (the cap would silently stay at its default)',
        { maxLifetime: 60 },
        /^new TokenIssuer: unknown option "maxLifetime"; the options are principal, realm, certificates, lifetimeSeconds, maxLifetimeSeconds, clock\.$/,
      ],
    ];
    for (const [what, override, pattern] of badOptions) {
      it(`refuses ${what}`, () => {
        const options = override === undefined ? undefined : { principal: LYNC, realm: REALM, certificates: primary, clock, ...(override as object) };
        expectTypeError(() => new TokenIssuer(options as never), pattern);
      });
    }

    it('refuses a certificate that does not cover the realm', () => {
      expectCertificateError(() => issuer({ certificates: fabrikam }), 'certificate_realm_missing');
    });

    it('refuses a certificate whose subject has no CN (protocol.md section 2: CN = the primary realm)', () => {
      const dir = mkdtempSync(join(tmpdir(), 's2sauth-no-cn-'));
      try {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'),
          '-days', '30', '-subj', '/O=Contoso', '-addext', 'subjectAltName=DNS:contoso.com'], { stdio: 'ignore' });
        const noCn = OAuthCertificate.fromPem(readFileSync(join(dir, 'c.pem'), 'utf8'), readFileSync(join(dir, 'k.pem'), 'utf8'));
        expectCertificateError(() => new TokenIssuer({ principal: LYNC, realm: 'contoso.com', certificates: noCn }), 'certificate_subject');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('signs for an extra realm the certificate lists', () => {
      const tokens = issuer({ realm: 'lync.contoso.com' });
      const { token } = tokens.issueAppOnly({ audience: `${WellKnownPrincipal.exchange}/mail.contoso.com@lync.contoso.com` });
      expect(payloadOf(token)['iss']).to.equal(`${LYNC}@lync.contoso.com`);
    });

    it('refuses to start with an expired certificate', () => {
      now = T0 + 400 * DAY;
      expectCertificateError(() => issuer(), 'certificate_expired');
    });

    it('refuses to sign once the certificate has expired', () => {
      const tokens = issuer();
      now = primary.notAfter + SECOND;
      // At run time: an S2SAuthError with a stable code, not the start-up TypeError.
      expect(() => tokens.issueAppOnly({ audience: EXCHANGE_AUDIENCE }))
        .to.throw(SigningCertificateError, `expired on ${new Date(primary.notAfter).toISOString()}`)
        .that.has.property('code', 'certificate_expired');
      expect(() => tokens.issueAppOnly({ audience: EXCHANGE_AUDIENCE })).not.to.throw(TypeError);
    });
  });

  describe('certificate rollover', () => {
    it('switches the signing certificate at the effective time', async () => {
      const set = new CertificateSet({ current: primary, clock });
      const tokens = issuer({ certificates: set });
      const effectiveAt = now + 2 * HOUR;
      set.stageNext(successor, effectiveAt);

      const before = tokens.issueAppOnly({ audience: EXCHANGE_AUDIENCE });
      expect(parseJws(before.token).header.x5t).to.equal(primary.x5t);
      await verifyWithJose(before.token, set.published(now), now, EXCHANGE_AUDIENCE);

      now = effectiveAt - 1;
      expect(parseJws(tokens.issueAppOnly({ audience: EXCHANGE_AUDIENCE }).token).header.kid).to.equal(primary.x5t);

      now = effectiveAt;
      const after = tokens.issueForUser({ audience: EXCHANGE_AUDIENCE }, { nameid: 'alice@contoso.com' });
      expect(segmentText(after.token, 0)).to.equal(expectedHeader(successor));
      const outer = await verifyWithJose(after.token, set.published(now), now, EXCHANGE_AUDIENCE);
      expect(segmentText(outer['actortoken'] as string, 0)).to.equal(expectedHeader(successor));
      await verifyWithJose(outer['actortoken'] as string, [successor], now, EXCHANGE_AUDIENCE);

      // A verifier that still has only the old certificate cannot verify the new tokens.
      let failed = false;
      await verifyWithJose(after.token, [primary], now, EXCHANGE_AUDIENCE).catch(() => {
        failed = true;
      });
      expect(failed).to.equal(true);
    });

    it('refuses to sign when the certificate taking over does not cover the realm', () => {
      const set = new CertificateSet({ current: primary, clock });
      const tokens = issuer({ certificates: set, realm: 'lync.contoso.com' });
      set.stageNext(successor, now + HOUR);
      const audience = `${WellKnownPrincipal.exchange}/mail.contoso.com@lync.contoso.com`;
      expect(() => tokens.issueAppOnly({ audience })).not.to.throw();
      now += HOUR;
      expectCertificateError(() => tokens.issueAppOnly({ audience }), 'certificate_realm_missing');
    });
  });
});
