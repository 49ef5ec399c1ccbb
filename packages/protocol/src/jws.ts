/**
 * The strict syntax gate for a compact JWS (RFC 7515 section 7.1), protocol.md section 3.3 step 2.
 *
 * This runs before anything else looks at a token, and it does not verify the signature (the
 * middleware does, with a key found inside one trust). Its job is to make sure there is exactly
 * one way to read the token: canonical base64url, valid UTF-8, JSON with no duplicate members, no
 * header parameter that would make a verifier fetch a key, trust an embedded key or change how the
 * payload is interpreted, one algorithm, and key ids that agree with each other.
 */
import { decodeBase64url } from './base64url.js';
import { InvalidTokenError, type FailureCode } from './errors.js';
import { parseStrictJson } from './json.js';
import { x5t as thumbprintSha1, x5tS256 as thumbprintSha256 } from './thumbprint.js';

/** The largest token accepted by default, in characters (protocol.md section 3.3 step 1: 8 KiB). */
export const MAX_TOKEN_LENGTH = 8192;

/** A JWS protected header that passed {@link parseJws}. */
export interface JwsHeader {
  /** `RS256`, or `none` for an unsigned outer token when the caller allowed it. */
  readonly alg: string;
  readonly typ?: string;
  /** Key id; equal to `x5t` when both are present. */
  readonly kid?: string;
  /** base64url SHA-1 thumbprint of the signing certificate (RFC 7515 section 4.1.7). */
  readonly x5t?: string;
  /** base64url SHA-256 thumbprint of the signing certificate (RFC 7515 section 4.1.8). */
  readonly 'x5t#S256'?: string;
  /** Exactly one standard-base64 DER certificate, only when {@link ParseJwsOptions.allowX5c} was set. */
  readonly x5c?: readonly string[];
  readonly [name: string]: unknown;
}

/** A compact JWS split into its parts. Nothing in it has been verified. */
export interface ParsedJws {
  readonly header: JwsHeader;
  /** The claims, a JSON object without a prototype. */
  readonly payload: Readonly<Record<string, unknown>>;
  /** `<header segment>.<payload segment>`, the bytes the signature covers (RFC 7515 section 5.2). */
  readonly signingInput: string;
  /** The decoded signature; empty exactly when `alg` is `none`. */
  readonly signature: Buffer;
  /** The token as given. */
  readonly token: string;
}

/** Options of {@link parseJws}. */
export interface ParseJwsOptions {
  /** Largest token accepted, in characters. Default {@link MAX_TOKEN_LENGTH}. */
  maxLength?: number;
  /**
   * Accept `alg` `none` with an empty signature: only for a Microsoft-style outer token from a
   * partner registered with `acceptUnsignedUserContext` (protocol.md section 3.2). Default false.
   */
  allowUnsigned?: boolean;
  /** Accept an `x5c` header of one certificate: only for an outer token over an STS-issued actor (section 3.2). Default false. */
  allowX5c?: boolean;
}

/**
 * Header parameters that are always refused: `crit` (extensions we would have to understand),
 * `b64` (RFC 7797 unencoded payloads), `enc`/`zip` (JWE, compression), `cty` (nested content),
 * `jku`/`x5u`/`jwk` (a key chosen or fetched on the token's say-so).
 */
const FORBIDDEN_HEADER_PARAMETERS = ['crit', 'b64', 'enc', 'zip', 'cty', 'jku', 'x5u', 'jwk'] as const;

const STANDARD_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const ASN1_SEQUENCE = 0x30;

// fatal: invalid bytes throw instead of becoming U+FFFD, so two byte strings never read the same.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

type Part = 'header' | 'payload';

function fail(code: FailureCode, reason: string): never {
  throw new InvalidTokenError(code, reason);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
  return `a ${typeof value}`;
}

function decodeUtf8(bytes: Buffer, part: Part): string {
  // With ignoreBOM false the decoder silently strips a BOM; RFC 8259 section 8.1 forbids one, so
  // refuse it rather than let two byte strings read the same.
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    fail('token_utf8', `${part} starts with a UTF-8 byte order mark`);
  }
  try {
    return UTF8.decode(bytes);
  } catch {
    return fail('token_utf8', `${part} is not valid UTF-8`);
  }
}

function parseJson(text: string, part: Part): unknown {
  try {
    return parseStrictJson(text);
  } catch (error) {
    if (error instanceof InvalidTokenError) fail(error.code, `${part}: ${error.reason}`);
    throw error;
  }
}

function asObject(value: unknown, part: Part): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('token_not_object', `${part} is ${describe(value)}, not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function member(object: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(object, name) ? object[name] : undefined;
}

/** The DER bytes of the single `x5c` certificate, or a rejection. */
function checkX5c(value: unknown, allowX5c: boolean): Buffer {
  if (!allowX5c) fail('token_x5c_not_allowed', 'header has x5c, which this token may not carry');
  if (!Array.isArray(value)) fail('token_forbidden_header', `header x5c is ${describe(value)}, not an array`);
  if (value.length !== 1) fail('token_forbidden_header', `header x5c has ${value.length} elements, not exactly one`);
  const [encoded] = value as unknown[];
  if (typeof encoded !== 'string') fail('token_forbidden_header', `header x5c[0] is ${describe(encoded)}, not a string`);
  // RFC 7515 section 4.1.6: standard base64 (not base64url) of the DER, and canonical so the bytes
  // have one spelling.
  if (encoded.length % 4 !== 0 || !STANDARD_BASE64.test(encoded)) {
    fail('token_forbidden_header', 'header x5c[0] is not standard base64');
  }
  const der = Buffer.from(encoded, 'base64');
  if (der.toString('base64') !== encoded) fail('token_forbidden_header', 'header x5c[0] is not canonical base64');
  if (der[0] !== ASN1_SEQUENCE) fail('token_forbidden_header', 'header x5c[0] is not a DER certificate');
  return der;
}

function optionalKeyId(header: Record<string, unknown>, name: 'kid' | 'x5t' | 'x5t#S256'): string | undefined {
  const value = member(header, name);
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail('claim_type', `header ${name} is ${describe(value)}, not a non-empty string`);
  return value;
}

/**
 * Splits and checks a compact JWS (protocol.md section 3.3 step 2), in this order: length,
 * three segments, canonical base64url, UTF-8, strict JSON, objects, header parameters, `alg`,
 * key ids. The signature is not verified.
 *
 * - longer than `maxLength` → `token_too_large`
 * - not three `.`-separated segments, an empty header or payload segment, or a signature present
 *   iff `alg` is not `none` → `token_segments`
 * - a segment that is not canonical base64url (padding, `+`, `/`, non-zero trailing bits) → `token_base64url`
 * - header or payload not UTF-8, or starting with a BOM → `token_utf8`
 * - not strict JSON ({@link parseStrictJson}) → `token_json` / `token_duplicate_member`; not an object → `token_not_object`
 * - `crit`, `b64`, `enc`, `zip`, `cty`, `jku`, `x5u`, `jwk` → `token_forbidden_header`; a non-string `typ` → `claim_type`
 * - `x5c` without `allowX5c` → `token_x5c_not_allowed`; with it, anything but one canonical
 *   standard-base64 DER string → `token_forbidden_header`
 * - `alg` not exactly `RS256` (or exactly `none` with `allowUnsigned`) → `token_unsupported_alg`
 * - `kid`, `x5t`, `x5t#S256` not non-empty strings → `claim_type`; `kid` ≠ `x5t`, or (with `x5c`)
 *   an `x5t` (else `kid`) or `x5t#S256` that is not the thumbprint of that certificate →
 *   `token_key_id_mismatch`; a signed token with neither `kid` nor `x5t` → `claim_missing`
 *
 * @throws InvalidTokenError with the codes above.
 * @throws TypeError if `token` is not a string or `maxLength` is not a positive integer.
 */
export function parseJws(token: string, options: ParseJwsOptions = {}): ParsedJws {
  if (typeof token !== 'string') throw new TypeError('parseJws: token must be a string');
  const maxLength = options.maxLength ?? MAX_TOKEN_LENGTH;
  if (!Number.isSafeInteger(maxLength) || maxLength <= 0) {
    throw new TypeError('parseJws: options.maxLength must be a positive integer');
  }
  const allowUnsigned = options.allowUnsigned === true;
  const allowX5c = options.allowX5c === true;

  if (token.length > maxLength) fail('token_too_large', `token has ${token.length} characters, more than ${maxLength}`);

  const segments = token.split('.');
  if (segments.length !== 3) fail('token_segments', `token has ${segments.length} segments, not 3`);
  const [headerSegment = '', payloadSegment = '', signatureSegment = ''] = segments;
  if (headerSegment === '') fail('token_segments', 'header segment is empty');
  if (payloadSegment === '') fail('token_segments', 'payload segment is empty');

  const headerBytes = decodeBase64url(headerSegment);
  if (!headerBytes) fail('token_base64url', 'header segment is not canonical base64url');
  const payloadBytes = decodeBase64url(payloadSegment);
  if (!payloadBytes) fail('token_base64url', 'payload segment is not canonical base64url');
  const signature = decodeBase64url(signatureSegment);
  if (!signature) fail('token_base64url', 'signature segment is not canonical base64url');

  const headerText = decodeUtf8(headerBytes, 'header');
  const payloadText = decodeUtf8(payloadBytes, 'payload');

  const headerValue = parseJson(headerText, 'header');
  const payloadValue = parseJson(payloadText, 'payload');

  const header = asObject(headerValue, 'header');
  const payload = asObject(payloadValue, 'payload');

  for (const name of FORBIDDEN_HEADER_PARAMETERS) {
    if (Object.hasOwn(header, name)) fail('token_forbidden_header', `header has ${name}`);
  }
  const typ = member(header, 'typ');
  if (typ !== undefined && typeof typ !== 'string') fail('claim_type', `header typ is ${describe(typ)}, not a string`);
  const certificate = Object.hasOwn(header, 'x5c') ? checkX5c(header['x5c'], allowX5c) : undefined;

  const alg = member(header, 'alg');
  const unsigned = alg === 'none' && allowUnsigned;
  if (alg !== 'RS256' && !unsigned) {
    fail('token_unsupported_alg', alg === undefined ? 'header has no alg' : `header alg is ${describeAlg(alg)}, not accepted here`);
  }
  if (unsigned !== (signature.length === 0)) {
    fail('token_segments', unsigned ? 'unsigned token has a signature' : 'signed token has an empty signature');
  }

  const kid = optionalKeyId(header, 'kid');
  const sha1 = optionalKeyId(header, 'x5t');
  const sha256 = optionalKeyId(header, 'x5t#S256');
  if (kid !== undefined && sha1 !== undefined && kid !== sha1) fail('token_key_id_mismatch', 'header kid and x5t differ');
  if (certificate) {
    // The embedded certificate and the thumbprints must name one certificate (protocol.md 3.3 step 2).
    const keyId = sha1 ?? kid;
    if (keyId !== undefined && keyId !== thumbprintSha1(certificate)) {
      fail('token_key_id_mismatch', `header ${sha1 === undefined ? 'kid' : 'x5t'} is not the thumbprint of the x5c certificate`);
    }
    if (sha256 !== undefined && sha256 !== thumbprintSha256(certificate)) {
      fail('token_key_id_mismatch', 'header x5t#S256 is not the thumbprint of the x5c certificate');
    }
  }
  if (!unsigned && kid === undefined && sha1 === undefined) fail('claim_missing', 'signed token header has neither x5t nor kid');

  return {
    header: header as JwsHeader,
    payload,
    signingInput: `${headerSegment}.${payloadSegment}`,
    signature,
    token,
  };
}

/** Names the few well-known algs exactly (they are short and not secret); anything else by type. */
function describeAlg(alg: unknown): string {
  if (typeof alg === 'string' && /^[A-Za-z0-9]{1,8}$/.test(alg)) return `"${alg}"`;
  return describe(alg);
}
