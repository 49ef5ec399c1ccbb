/**
 * The RS256 signature check of actor and outer tokens: jsonwebtoken with a `KeyObject` and RS256
 * only. Every time rule is ours (`checkLifetime`), because jsonwebtoken does not require `exp`,
 * does not check a future `iat`, and refuses the decimal-string `nbf`/`exp` Microsoft servers send.
 */
import jwt from 'jsonwebtoken';
import type { SigningKey } from '@s2sauth/protocol';
import { fail } from './verifier-state.js';

/** Verifies an RS256 signature with jsonwebtoken; any failure is `code`. Time claims are ours. */
export function checkSignature(
  token: string,
  key: SigningKey,
  code: 'signature_invalid' | 'outer_signature_invalid',
  who: string,
  whose = 'the partner\'s key',
): void {
  try {
    jwt.verify(token, key.publicKey, { algorithms: ['RS256'], ignoreExpiration: true, ignoreNotBefore: true });
  } catch (error) {
    // jsonwebtoken's own messages are fixed texts ("invalid signature"); anything else by name only.
    const detail = error instanceof jwt.JsonWebTokenError ? error.message : error instanceof Error ? error.name : typeof error;
    fail(code, `${who}: the signature does not verify with ${whose} (${detail})`);
  }
}
