import { expect } from 'chai';
import { StsTokenError } from '@s2sauth/issuer';
import { stsFailure } from '../src/sts-failure.js';

const endpoint = 'http://127.0.0.1:4400/tenant/tokens/OAuth/2';

describe('stsFailure', () => {
  const cases: [string, StsTokenError, number, string][] = [
    ['a disabled or unknown client (401 invalid_client)', new StsTokenError('sts_error', 'The STS refused the token request (401 invalid_client).', { endpoint, status: 401, error: 'invalid_client' }), 502, 'sts_refused'],
    ['a missing grant (400 unauthorized_client)', new StsTokenError('sts_error', 'The STS refused (400 unauthorized_client).', { endpoint, status: 400, error: 'unauthorized_client' }), 502, 'sts_refused'],
    ['an STS that cannot be reached', new StsTokenError('network', 'The STS could not be reached: ECONNREFUSED.', { endpoint }), 502, 'sts_unavailable'],
    ['an STS that is failing (503 temporarily_unavailable)', new StsTokenError('sts_error', 'The STS refused (503 temporarily_unavailable).', { endpoint, status: 503, error: 'temporarily_unavailable' }), 502, 'sts_unavailable'],
    ['a 4xx without an OAuth error (a wrong endpoint)', new StsTokenError('sts_error', 'The STS answered 404 and no OAuth error.', { endpoint, status: 404 }), 502, 'sts_unavailable'],
    ['a 400 server_error', new StsTokenError('sts_error', 'The STS refused (400 server_error).', { endpoint, status: 400, error: 'server_error' }), 502, 'sts_unavailable'],
    ['an answer that cannot be used', new StsTokenError('invalid_response', 'The STS answered with no access_token.', { endpoint }), 502, 'sts_unavailable'],
    ['an STS that does not answer in time', new StsTokenError('timeout', 'The STS did not answer within 10000 ms.', { endpoint }), 504, 'sts_timeout'],
  ];
  for (const [name, error, status, code] of cases) {
    it(`answers ${name} with ${status} ${code}`, () => {
      const answer = stsFailure(error, 'Lync', 'Exchange');
      expect(answer).to.include({ status, code });
      expect(answer.message).to.include(error.message);
      expect(answer.cause).to.equal(error);
    });
  }

  it('names the RFC 6749 error and who must act in a refusal', () => {
    const answer = stsFailure(new StsTokenError('sts_error', 'The STS refused.', { endpoint, status: 401, error: 'invalid_client' }), 'Exchange', 'Lync');
    expect(answer.toJSON()).to.deep.equal({
      error: 'sts_refused',
      message: "The authorization server refused Exchange a token for Lync (invalid_client); an administrator must check Exchange's client registration there (enabled, its certificate, a grant for Lync). The STS refused.",
    });
  });
});
