import { expect } from 'chai';
import {
  BearerError,
  bearerError,
  FAILURE_CODES,
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  KeysUnavailableError,
  type FailureClass,
  type FailureCode,
} from '../src/errors.js';
import type { ChallengeParams } from '../src/challenge.js';
import { MAX_AUTHORIZATION_LENGTH } from '../src/bearer.js';

const LYNC = '00000004-0000-0ff1-ce00-000000000000';
const CHALLENGE: ChallengeParams = {
  realm: 'contoso.com',
  clientId: LYNC,
  trustedIssuers: ['00000002-0000-0ff1-ce00-000000000000@contoso.com', '00000001-0000-0000-c000-000000000000@*'],
};
const CHALLENGE_PREFIX =
  `Bearer realm="contoso.com", client_id="${LYNC}", ` +
  'trusted_issuers="00000002-0000-0ff1-ce00-000000000000@contoso.com,00000001-0000-0000-c000-000000000000@*"';

/** The table of protocol.md section 7, restated. */
const CLASS_RESPONSE: Record<FailureClass, { status: number; error: string | undefined; type: new (...args: never[]) => BearerError }> = {
  request: { status: 400, error: 'invalid_request', type: InvalidRequestError },
  malformed: { status: 401, error: 'invalid_token', type: InvalidTokenError },
  signature: { status: 401, error: 'invalid_token', type: InvalidTokenError },
  lifetime: { status: 401, error: 'invalid_token', type: InvalidTokenError },
  audience: { status: 401, error: 'invalid_token', type: InvalidTokenError },
  realm: { status: 401, error: 'invalid_token', type: InvalidTokenError },
  trust: { status: 401, error: 'invalid_token', type: InvalidTokenError },
  user: { status: 401, error: 'invalid_token', type: InvalidTokenError },
  scope: { status: 403, error: 'insufficient_scope', type: InsufficientScopeError },
  unavailable: { status: 503, error: undefined, type: KeysUnavailableError },
  failed: { status: 401, error: 'invalid_token', type: InvalidTokenError },
};

/** Exchange's diagnostics (protocol.md section 7), exactly as sent. */
const DIAGNOSTICS: Partial<Record<FailureClass, string>> = {
  signature: '2000000;reason="The token has an invalid signature.";error_category="invalid_signature"',
  audience: '2000003;reason="The audience claim value is invalid.";error_category="invalid_resource"',
  realm: '2000004;reason="The realm of the token is not served here.";error_category="invalid_tenant"',
  user: '2000005;reason="The user context in the token is invalid.";error_category="invalid_user"',
};

/** Codes other modules rely on (the contract's), with the class each must keep. */
const EXPECTED_CODES: Record<string, FailureClass> = {
  multiple_credentials: 'request',
  token_in_query: 'request',
  token_in_body: 'request',
  malformed_authorization: 'request',
  header_too_large: 'request',
  token_too_large: 'malformed',
  token_segments: 'malformed',
  token_base64url: 'malformed',
  token_utf8: 'malformed',
  token_json: 'malformed',
  token_not_object: 'malformed',
  token_duplicate_member: 'malformed',
  token_forbidden_header: 'malformed',
  token_unsupported_alg: 'malformed',
  token_key_id_mismatch: 'malformed',
  token_x5c_not_allowed: 'malformed',
  claim_missing: 'malformed',
  claim_type: 'malformed',
  actor_user_claims: 'malformed',
  key_unknown: 'signature',
  signature_invalid: 'signature',
  outer_signature_invalid: 'signature',
  outer_unsigned: 'signature',
  cnf_mismatch: 'signature',
  token_expired: 'lifetime',
  token_not_yet_valid: 'lifetime',
  token_issued_in_future: 'lifetime',
  token_lifetime_too_long: 'lifetime',
  outer_window: 'lifetime',
  audience_invalid: 'audience',
  realm_invalid: 'realm',
  issuer_unknown: 'trust',
  issuer_invalid: 'trust',
  partner_disabled: 'trust',
  nameid_invalid: 'trust',
  trust_level: 'trust',
  delegation_not_allowed: 'trust',
  outer_binding: 'trust',
  user_invalid: 'user',
  scope_insufficient: 'scope',
  keys_unavailable: 'unavailable',
  verification_failed: 'failed',
};

/** A reason that must never reach the caller: token text and an internal detail. */
const REASON = 'expected aud 00000002-…/mail.contoso.com@contoso.com, got eyJhbGciOiJSUzI1NiJ9.secret';

const ALL_CODES = Object.keys(FAILURE_CODES) as FailureCode[];

describe('errors', () => {
  it('keeps every code of the contract in its class', () => {
    for (const [code, failureClass] of Object.entries(EXPECTED_CODES)) {
      expect(FAILURE_CODES, code).to.have.property(code, failureClass);
    }
  });

  it('maps every code to a known failure class', () => {
    for (const code of ALL_CODES) expect(CLASS_RESPONSE, code).to.have.property(FAILURE_CODES[code]);
  });

  for (const code of ALL_CODES) {
    const failureClass = FAILURE_CODES[code];
    const expected = CLASS_RESPONSE[failureClass];
    it(`gives ${code} the class ${failureClass}, status ${expected.status} and error ${String(expected.error)}`, () => {
      const error = bearerError(code, REASON);
      expect(error).to.be.instanceOf(expected.type);
      expect(error).to.be.instanceOf(BearerError);
      expect(error).to.be.instanceOf(Error);
      expect(error.name).to.equal(expected.type.name);
      expect(error.code).to.equal(code);
      expect(error.failureClass).to.equal(failureClass);
      expect(error.status).to.equal(expected.status);
      expect(error.error).to.equal(expected.error);
      expect(error.reason).to.equal(REASON);
      expect(error.message).to.equal(error.description);
    });

    it(`never sends the reason of ${code} to the caller`, () => {
      const error = bearerError(code, REASON);
      expect(error.description).to.not.contain('eyJ');
      expect(error.message).to.not.contain('eyJ');
      const headers = error.headers(CHALLENGE);
      expect(JSON.stringify(headers)).to.not.contain('eyJ');
      expect(JSON.stringify(headers)).to.not.contain('mail.contoso.com');
      expect(String(error)).to.not.contain('eyJ');
    });
  }

  it('gives header_too_large its own description, naming the limit (not "exactly one bearer token")', () => {
    const error = bearerError('header_too_large', REASON);
    expect(error.description).to.equal(`The Authorization header is too large: at most ${MAX_AUTHORIZATION_LENGTH} characters.`);
    expect(error.message).to.equal(error.description);
    expect(error.headers(CHALLENGE)['WWW-Authenticate']).to.equal(`${CHALLENGE_PREFIX}, error="invalid_request", error_description="${error.description}"`);
  });

  it('uses one fixed description per failure class, different between classes (header_too_large has its own)', () => {
    const byClass = new Map<FailureClass, Set<string>>();
    for (const code of ALL_CODES.filter((candidate) => candidate !== 'header_too_large')) {
      const set = byClass.get(FAILURE_CODES[code]) ?? new Set<string>();
      set.add(bearerError(code, `reason ${code}`).description);
      byClass.set(FAILURE_CODES[code], set);
    }
    for (const [failureClass, descriptions] of byClass) expect(descriptions.size, failureClass).to.equal(1);
    const all = [...byClass.values()].map((set) => [...set][0]);
    expect(new Set(all).size).to.equal(all.length);
  });

  describe('headers', () => {
    it('adds error and error_description to the server challenge for a 401', () => {
      const error = bearerError('token_expired', REASON);
      expect(error.headers(CHALLENGE)).to.deep.equal({
        'WWW-Authenticate': `${CHALLENGE_PREFIX}, error="invalid_token", error_description="The access token is expired or not yet valid."`,
      });
    });

    it('keeps the authorization_uri of the server challenge', () => {
      const headers = bearerError('token_json', REASON).headers({ ...CHALLENGE, authorizationUri: 'https://sts.contoso.com/token' });
      expect(headers['WWW-Authenticate']).to.equal(
        `${CHALLENGE_PREFIX}, authorization_uri="https://sts.contoso.com/token", error="invalid_token", error_description="The access token is malformed."`,
      );
    });

    it('sends invalid_request for a 400', () => {
      expect(new InvalidRequestError('multiple_credentials', REASON).headers(CHALLENGE)['WWW-Authenticate']).to.match(
        /, error="invalid_request", error_description="[^"]+"$/,
      );
    });

    for (const code of ALL_CODES) {
      const failureClass = FAILURE_CODES[code];
      const diagnostic = DIAGNOSTICS[failureClass];
      it(`${diagnostic ? 'adds the Exchange diagnostic' : 'adds no x-ms-diagnostics'} for ${code}`, () => {
        const headers = bearerError(code, REASON).headers(CHALLENGE);
        if (diagnostic) expect(headers['x-ms-diagnostics']).to.equal(diagnostic);
        else expect(headers).to.not.have.property('x-ms-diagnostics');
      });
    }

    it('sends scope and insufficient_scope for a 403', () => {
      const error = new InsufficientScopeError('calendar.read mail.send', REASON);
      expect(error.scope).to.equal('calendar.read mail.send');
      expect(error.status).to.equal(403);
      expect(error.headers(CHALLENGE)).to.deep.equal({
        'WWW-Authenticate':
          `${CHALLENGE_PREFIX}, error="insufficient_scope", ` +
          'error_description="The access token does not grant the scope this resource requires.", scope="calendar.read mail.send"',
      });
    });

    it('sends Retry-After and a challenge without error for a 503', () => {
      const error = new KeysUnavailableError(REASON);
      expect(error.retryAfter).to.equal(30);
      expect(error.status).to.equal(503);
      expect(error.error).to.equal(undefined);
      expect(error.headers(CHALLENGE)).to.deep.equal({ 'WWW-Authenticate': CHALLENGE_PREFIX, 'Retry-After': '30' });
      expect(new KeysUnavailableError(REASON, 120).headers(CHALLENGE)['Retry-After']).to.equal('120');
    });

    it('builds headers whose values can be sent (no CR, LF or non-ASCII) for every code', () => {
      for (const code of ALL_CODES) {
        for (const value of Object.values(bearerError(code, REASON).headers(CHALLENGE))) {
          expect(value, code).to.match(/^[\t\x20-\x7e]+$/);
        }
      }
    });
  });
});
