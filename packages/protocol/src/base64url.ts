/**
 * Canonical base64url (RFC 4648 section 5, no padding), as JWS requires (RFC 7515 section 2).
 *
 * Node's own decoder is lenient: it skips characters outside the alphabet, accepts padding and
 * ignores non-zero trailing bits, so two different strings can decode to the same bytes. A
 * verifier that accepts that lets an attacker vary a token without changing what it means
 * (defeating replay and cache keys), so decoding here is strict: the text must be exactly the
 * encoding of the bytes it decodes to.
 */

const ALPHABET = /^[A-Za-z0-9_-]*$/;

/** Encodes bytes (or a UTF-8 string) as base64url without padding. */
export function encodeBase64url(data: Uint8Array | string): string {
  return (typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength)).toString('base64url');
}

/**
 * Decodes canonical base64url text. Returns `undefined` for anything that is not the canonical
 * encoding of some byte string: characters outside the alphabet, padding, a length of 4n+1, or
 * non-zero bits after the last whole byte.
 */
export function decodeBase64url(text: string): Buffer | undefined {
  if (!ALPHABET.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}
