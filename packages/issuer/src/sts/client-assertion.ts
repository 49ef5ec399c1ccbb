/**
 * Client authentication at the STS token endpoint with a certificate-signed JWT (RFC 7523
 * section 2.2, RFC 7521 section 4.2; protocol.md section 6): the only way a client authenticates,
 * since the STS accepts no client secrets.
 *
 * Order, so that nothing is believed before the signature is checked: strict JWS syntax
 * (`parseJws`, RS256 only, no `x5c`), `typ` exactly `client-authentication+jwt`, the key named by
 * `x5t`/`kid` among the REGISTERED client's keys only (a key is never taken from the assertion),
 * the signature, then the claims, and last the one-time use of `(iss, jti)` in the shared replay
 * store, so that only an assertion that passed everything else is consumed.
 */
import { verify as rsaVerify, type KeyObject } from 'node:crypto';
import {
  ASSERTION_CLOCK_SKEW_SECONDS,
  CLIENT_ASSERTION_TYP,
  InvalidTokenError,
  MAX_ASSERTION_LIFETIME_SECONDS,
  MetadataError,
  parseJws,
  signingKeyFromCertificate,
  type ParsedJws,
  type SigningKey,
} from '@s2sauth/protocol';
import { S2SAuthError } from '@s2sauth/protocol';
import type { ClientRecord, ReplayStore } from '@s2sauth/store';

/** Longest accepted `jti`, in characters: it is stored in the replay store. */
export const MAX_ASSERTION_JTI_LENGTH = 256;

/** Why an assertion was refused; for the audit log only, never for the client (it sees `invalid_client`). */
export type ClientAssertionErrorCode =
  | 'assertion_malformed'
  | 'assertion_typ'
  | 'assertion_key_unknown'
  | 'assertion_signature'
  | 'assertion_claim_missing'
  | 'assertion_claim_type'
  | 'assertion_issuer'
  | 'assertion_subject'
  | 'assertion_audience'
  | 'assertion_lifetime_too_long'
  | 'assertion_expired'
  | 'assertion_not_yet_valid'
  | 'assertion_issued_in_future'
  | 'assertion_replayed';

/**
 * A client assertion was refused. `code` and `message` are for the audit log: they name the
 * failed check, never a claim value, a key or the assertion.
 */
export class ClientAssertionError extends S2SAuthError<ClientAssertionErrorCode> {
  constructor(code: ClientAssertionErrorCode, message: string) {
    super(code, message);
  }
}

/** What {@link verifyClientAssertion} checks an assertion against. */
export interface ClientAssertionOptions {
  /** The `client_id` of the request (`<principal>@<realm>`): `iss` and `sub` must equal it exactly. */
  readonly clientId: string;
  /** The STS issuer id of the realm the request was made in: `aud` must be exactly this one string. */
  readonly audience: string;
  /** The registered client's keys; the assertion's `x5t`/`kid` must name one of them. */
  readonly keys: readonly SigningKey[];
  /** Where `(iss, jti)` is claimed once, until the assertion's `exp`. */
  readonly replay: ReplayStore;
  /** Now, in ms since the epoch. */
  readonly now: number;
  /**
   * When the key id names none of `keys`, the signature is still checked against this RSA key
   * (and the result ignored), so that an unknown key costs as much as a known one and timing
   * does not tell them apart. Default none.
   */
  readonly standInKey?: KeyObject;
}

/** A client assertion whose syntax and `typ` were checked; nothing in it is verified yet. */
export interface ParsedClientAssertion {
  readonly jws: ParsedJws;
  /** The key id the assertion names its key by: `x5t`, else `kid` (they agree when both are present). */
  readonly keyId: string;
}

/** A verified, now consumed, client assertion. */
export interface VerifiedClientAssertion {
  /** The assertion's `jti`. */
  readonly jti: string;
  /** The registered key that verified the signature (its `x5tS256` goes into `cnf`). */
  readonly key: SigningKey;
  /** The assertion's `exp`, ms since the epoch. */
  readonly expiresAt: number;
}

function fail(code: ClientAssertionErrorCode, message: string): never {
  throw new ClientAssertionError(code, message);
}

/** A NumericDate as a JSON number only (no digit strings here: the protocol's own clients send numbers). */
function numericDate(payload: Readonly<Record<string, unknown>>, name: string, required: boolean): number | undefined {
  const value = Object.hasOwn(payload, name) ? payload[name] : undefined;
  if (value === undefined) {
    if (required) fail('assertion_claim_missing', `assertion has no ${name}`);
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 9_999_999_999) {
    fail('assertion_claim_type', `assertion ${name} is not a NumericDate number`);
  }
  return value;
}

function stringClaim(payload: Readonly<Record<string, unknown>>, name: string): string {
  const value = Object.hasOwn(payload, name) ? payload[name] : undefined;
  if (value === undefined) fail('assertion_claim_missing', `assertion has no ${name}`);
  if (typeof value !== 'string') fail('assertion_claim_type', `assertion ${name} is not a string`);
  return value;
}

/**
 * RS256 verification with `crypto.verify` and an RSA `KeyObject` (RSASSA-PKCS1-v1_5, SHA-256), on
 * libuv's thread pool (node:crypto with a callback), so that the STS's event loop goes on with
 * other requests meanwhile. Resolves `false` for anything that is not a valid signature; never
 * rejects. Also used with a stand-in key for an unknown client, so that both paths cost the same.
 */
export function verifyRs256(signingInput: string, signature: Buffer, publicKey: KeyObject): Promise<boolean> {
  if (publicKey.asymmetricKeyType !== 'rsa') return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      rsaVerify('sha256', Buffer.from(signingInput, 'ascii'), publicKey, signature, (error, valid) => resolve(error === null && valid));
    } catch {
      resolve(false);
    }
  });
}

/**
 * Verifies a client assertion (protocol.md section 6) and consumes its `(iss, jti)`.
 *
 * Checks, in order: strict syntax (`parseJws`: RS256, no `x5c`, key ids consistent); `typ`
 * exactly {@link CLIENT_ASSERTION_TYP}; the key named by `x5t` (else `kid`) among `keys`, and
 * `x5t#S256`, when present, naming the same key; the RS256 signature; `iss` = `sub` = `clientId`
 * exactly; `aud` exactly `audience` as a single string (an array, another STS's id or the token
 * endpoint URL fail); `exp` and `iat` JSON numbers, `nbf` too when present; `exp - iat` at most
 * 300 s and `exp > nbf`; `exp` in the future (no skew: the assertion is short-lived); `iat` and
 * `nbf` at most 300 s in the future; `jti` a non-empty string of at most 256 characters; then
 * `replay.claim(iss, jti, exp * 1000)`.
 *
 * Rejects with a ClientAssertionError naming the failed check (for the audit log).
 */
export async function verifyClientAssertion(assertion: string, options: ClientAssertionOptions): Promise<VerifiedClientAssertion> {
  return verifyParsedClientAssertion(parseClientAssertion(assertion), options);
}

/**
 * The first, key-free checks of {@link verifyClientAssertion}: strict syntax (`parseJws`: RS256,
 * no `x5c`, key ids consistent, a key id present) and `typ` exactly {@link CLIENT_ASSERTION_TYP}.
 * Cheap and local, so the STS runs it before it looks up or fetches any key.
 *
 * @throws ClientAssertionError `assertion_malformed` or `assertion_typ`.
 */
export function parseClientAssertion(assertion: string): ParsedClientAssertion {
  let jws: ParsedJws;
  try {
    jws = parseJws(assertion);
  } catch (error) {
    if (error instanceof InvalidTokenError) fail('assertion_malformed', `assertion syntax: ${error.code}`);
    throw error;
  }
  if (jws.header.typ !== CLIENT_ASSERTION_TYP) fail('assertion_typ', 'assertion typ is not client-authentication+jwt');
  // parseJws guarantees one of them is present and that they agree.
  return { jws, keyId: (jws.header.x5t ?? jws.header.kid) as string };
}

/**
 * {@link verifyClientAssertion} for an assertion already read by {@link parseClientAssertion}:
 * every check after the syntax and `typ`, in the same order, and the replay claim.
 *
 * Rejects with a ClientAssertionError naming the failed check (for the audit log).
 */
export async function verifyParsedClientAssertion(parsed: ParsedClientAssertion, options: ClientAssertionOptions): Promise<VerifiedClientAssertion> {
  const { jws, keyId } = parsed;
  const { header, payload } = jws;
  const key = options.keys.find((candidate) => candidate.x5t === keyId);
  const sha256 = header['x5t#S256'];
  if (key === undefined || (sha256 !== undefined && sha256 !== key.x5tS256)) {
    // Spend the work of a signature check anyway: the answer is the same, and so is the time.
    if (options.standInKey !== undefined) await verifyRs256(jws.signingInput, jws.signature, options.standInKey);
    if (key === undefined) fail('assertion_key_unknown', 'assertion key id names none of the client certificates');
    fail('assertion_key_unknown', 'assertion x5t#S256 does not name the certificate its x5t names');
  }
  if (!(await verifyRs256(jws.signingInput, jws.signature, key.publicKey))) {
    fail('assertion_signature', 'assertion signature does not verify with the client certificate');
  }

  const iss = stringClaim(payload, 'iss');
  const sub = stringClaim(payload, 'sub');
  if (!Object.hasOwn(payload, 'aud')) fail('assertion_claim_missing', 'assertion has no aud');
  const aud = payload['aud'];
  const exp = numericDate(payload, 'exp', true) as number;
  const iat = numericDate(payload, 'iat', true) as number;
  const nbf = numericDate(payload, 'nbf', false);
  const jti = stringClaim(payload, 'jti');

  if (iss !== options.clientId) fail('assertion_issuer', 'assertion iss is not the client_id');
  if (sub !== options.clientId) fail('assertion_subject', 'assertion sub is not the client_id');
  if (typeof aud !== 'string') fail('assertion_audience', 'assertion aud is not a single string');
  if (aud !== options.audience) fail('assertion_audience', "assertion aud is not this STS's issuer id for the realm");

  if (exp - iat > MAX_ASSERTION_LIFETIME_SECONDS) {
    fail('assertion_lifetime_too_long', `assertion exp is more than ${MAX_ASSERTION_LIFETIME_SECONDS} s after iat`);
  }
  if (exp <= iat || (nbf !== undefined && exp <= nbf)) fail('assertion_claim_type', 'assertion exp is not after iat and nbf');
  const now = options.now / 1000;
  if (exp <= now) fail('assertion_expired', 'assertion has expired');
  if (iat > now + ASSERTION_CLOCK_SKEW_SECONDS) fail('assertion_issued_in_future', 'assertion iat is in the future');
  if (nbf !== undefined && nbf > now + ASSERTION_CLOCK_SKEW_SECONDS) fail('assertion_not_yet_valid', 'assertion nbf is in the future');
  if (jti.length === 0 || jti.length > MAX_ASSERTION_JTI_LENGTH) {
    fail('assertion_claim_type', `assertion jti is not 1 to ${MAX_ASSERTION_JTI_LENGTH} characters`);
  }

  const expiresAt = exp * 1000;
  if (!options.replay.claim(iss, jti, expiresAt)) fail('assertion_replayed', 'assertion (iss, jti) was used before');
  return { jti, key, expiresAt };
}

/**
 * What reading one certificate text gave, apart from the time check: its key, or `null` when the
 * text can never give a key (unreadable, not RSA 2048-4096 with e = 65537, a private key...).
 */
type ParsedCertificate = SigningKey | null;

/** How many certificate texts {@link clientCertificateKeys} remembers (the oldest is dropped first). */
const CLIENT_CERTIFICATE_CACHE_SIZE = 1024;

/**
 * Certificate text → parsed key. Reading a certificate (X.509 parse, key checks, two
 * thumbprints) costs about as much as the RSA signature of the token issued for it, and the
 * registry hands out the same texts on every request. The text is the whole input of everything
 * cached here, so an entry can never go stale: a registry change that edits, adds or removes a
 * certificate changes the texts the next record carries. Only the validity period depends on
 * time, and it is checked against `now` on every use. Keyed by text rather than by record, since
 * `SqliteStore` builds a new record on every read. Only registered certificates come here.
 */
const parsedCertificates = new Map<string, ParsedCertificate>();

/** The largest time a `Date` can hold (ECMA-262 section 21.4.1.22), as `signingKeyFromCertificate` checks it. */
const MAX_DATE_MS = 8.64e15;

function parseCertificate(certificate: string, now: number): SigningKey | undefined {
  const cached = parsedCertificates.get(certificate);
  if (cached === null) return undefined;
  if (cached !== undefined) {
    // The same checks as signingKeyFromCertificate: a time that is not one (NaN would pass every
    // comparison below as false, i.e. no key), then the validity period, bounds inclusive.
    if (typeof now !== 'number' || !(Math.abs(now) <= MAX_DATE_MS)) return undefined;
    return now >= cached.notBefore && now <= cached.notAfter ? cached : undefined;
  }
  let parsed: ParsedCertificate;
  try {
    parsed = Object.freeze(signingKeyFromCertificate(certificate, now));
  } catch (error) {
    // Outside its validity now (it may be valid later, or earlier) or a bad `now`: not remembered.
    if (!(error instanceof MetadataError) || error.code === 'metadata_certificate_expired') return undefined;
    parsed = null;
  }
  if (typeof certificate === 'string') {
    if (parsedCertificates.size >= CLIENT_CERTIFICATE_CACHE_SIZE) {
      parsedCertificates.delete(parsedCertificates.keys().next().value as string);
    }
    parsedCertificates.set(certificate, parsed);
  }
  return parsed ?? undefined;
}

/**
 * The keys of a registered client's pinned certificates that are usable at `now`: certificates
 * that cannot be read, are not RSA 2048-4096 with e = 65537, or are outside their validity are
 * left out (an expired certificate never verifies). Each certificate text is read once and
 * remembered (see {@link CLIENT_CERTIFICATE_CACHE_SIZE}); its validity is checked on every call.
 */
export function clientCertificateKeys(client: ClientRecord, now: number): SigningKey[] {
  const keys: SigningKey[] = [];
  for (const certificate of client.certificates) {
    // An unusable certificate is as good as absent; the registry check at admin time reports it.
    const key = parseCertificate(certificate, now);
    if (key !== undefined) keys.push(key);
  }
  return keys;
}
