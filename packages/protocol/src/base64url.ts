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
  const rest = text.length % 4;
  if (rest === 1 || !ALPHABET.test(text)) return undefined;
  // Over the alphabet, with no padding and a length that is not 4n+1, the text is the canonical
  // encoding of its bytes exactly when the bits of the last character that complete no byte are
  // zero: 4 of them after 4n+2 characters, 2 after 4n+3 (RFC 4648 section 3.5). That is what
  // re-encoding and comparing would check, without building a second string.
  if (rest !== 0) {
    const last = sextet(text.charCodeAt(text.length - 1));
    if ((last & (rest === 2 ? 0x0f : 0x03)) !== 0) return undefined;
  }
  return Buffer.from(text, 'base64url');
}

/** The value of a base64url alphabet character (the caller checked it is one). */
function sextet(c: number): number {
  if (c >= 0x61) return c - 0x61 + 26; // a-z
  if (c === 0x5f) return 63; // _
  if (c >= 0x41) return c - 0x41; // A-Z
  if (c >= 0x30) return c - 0x30 + 52; // 0-9
  return 62; // -
}
