/**
 * The one error root of s2sauth (issue 10, section 4): every run-time error class of every package
 * is an `S2SAuthError` with a stable `code`, keeps its name and its own properties, and is not a
 * `TypeError` (those are for misconfiguration at start-up).
 */
import { expect } from 'chai';
import { CliError, type CliErrorCode } from '@s2sauth/cli';
import {
  ClientAssertionError,
  S2SClientError,
  SigningCertificateError,
  StsTokenError,
  type IssuerErrorCode,
} from '@s2sauth/issuer';
import { MetadataFetchError, PartnerRegistryError, type MiddlewareErrorCode } from '@s2sauth/middleware';
import {
  bearerError,
  InsufficientScopeError,
  KeysUnavailableError,
  MetadataError,
  S2SAuthError,
  type ProtocolErrorCode,
} from '@s2sauth/protocol';
import { StoreError, type StoreErrorCode } from '@s2sauth/store';

/** What a program that catches any s2sauth error does: `instanceof S2SAuthError`, then `code`. */
function codeOf(action: () => never): string {
  try {
    action();
  } catch (error) {
    if (error instanceof S2SAuthError) return error.code;
    throw error;
  }
}

describe('the S2SAuthError root', () => {
  const cases: ReadonlyArray<readonly [string, () => S2SAuthError, string]> = [
    ['BearerError', () => bearerError('token_expired', 'exp in the past'), 'token_expired'],
    ['InsufficientScopeError', () => new InsufficientScopeError('contacts.read', 'no scope'), 'scope_insufficient'],
    ['KeysUnavailableError', () => new KeysUnavailableError('metadata down'), 'keys_unavailable'],
    ['MetadataError', () => new MetadataError('metadata_no_keys', 'no keys'), 'metadata_no_keys'],
    ['StoreError', () => new StoreError('read_only', 'read-only store'), 'read_only'],
    ['PartnerRegistryError', () => new PartnerRegistryError('invalid', 'bad realm', 'realm'), 'invalid'],
    ['MetadataFetchError', () => new MetadataFetchError('timeout', 'too slow'), 'timeout'],
    ['S2SClientError', () => new S2SClientError('timeout', 'too slow', { target: 'https://exchange.contoso.com' }), 'timeout'],
    ['StsTokenError', () => new StsTokenError('network', 'unreachable', { endpoint: 'https://sts.contoso.com/token' }), 'network'],
    ['ClientAssertionError', () => new ClientAssertionError('assertion_replayed', 'seen before'), 'assertion_replayed'],
    [
      'SigningCertificateError',
      () => new SigningCertificateError({ code: 'certificate_expired', message: 'The OAuth signing certificate x expired.' }),
      'certificate_expired',
    ],
    ['CliError', () => new CliError('no such partner', 1), 'refused'],
  ];
  for (const [name, make, code] of cases) {
    it(`${name} is an S2SAuthError with a stable code, keeps its name, and is no TypeError`, () => {
      const error = make();
      expect(error).to.be.instanceOf(S2SAuthError);
      expect(error).to.be.instanceOf(Error);
      expect(error).not.to.be.instanceOf(TypeError);
      expect(error.name).to.equal(name === 'BearerError' ? 'InvalidTokenError' : name);
      expect(error.code).to.equal(code);
      expect(codeOf(() => {
        throw error;
      })).to.equal(code);
    });
  }

  it('keeps each class own properties', () => {
    expect(new PartnerRegistryError('invalid', 'bad realm', 'realm').field).to.equal('realm');
    expect(new S2SClientError('status', 'refused', { target: 'https://exchange.contoso.com', status: 401 })).to.include({ target: 'https://exchange.contoso.com', status: 401 });
    expect(new StsTokenError('sts_error', 'no', { endpoint: 'https://sts.contoso.com/token', error: 'invalid_client' })).to.include({ endpoint: 'https://sts.contoso.com/token', error: 'invalid_client' });
    expect(bearerError('token_expired', 'r')).to.include({ status: 401, error: 'invalid_token', reason: 'r', failureClass: 'lifetime' });
    expect(new KeysUnavailableError('down', 10).retryAfter).to.equal(10);
    expect(new CliError('bad flag', 2)).to.include({ exitCode: 2, code: 'usage' });
    const cause = new Error('socket hang up');
    expect(new MetadataFetchError('network', 'failed', { cause }).cause).to.equal(cause);
  });

  it('has one code union per package, each a string union the compiler checks', () => {
    const codes: ReadonlyArray<ProtocolErrorCode | StoreErrorCode | MiddlewareErrorCode | IssuerErrorCode | CliErrorCode> = [
      'token_expired',
      'metadata_no_keys',
      'read_only',
      'metadata_unavailable',
      'redirect',
      'certificate_expired',
      'assertion_replayed',
      'usage',
    ];
    expect(codes).to.have.length(8);
  });
});
