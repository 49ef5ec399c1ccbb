/**
 * Memory of the verification cache after 1,000,000 distinct tokens: the real `VerificationCache`
 * at the verifier's default size, driven the way `verify()` drives it on a miss (key of the token,
 * `get`, then `set` of the accepted result), with token strings of realistic length (~900 chars)
 * and realistic entries. Target: bounded, at most 64 MiB of heap retained after a million tokens.
 *
 * Signing a million tokens would take minutes, and the cache never sees a signature anyway (it is
 * keyed by the token's SHA-256 and stores the principal), so the tokens are synthetic strings and
 * each entry's principal is built as the verifier builds one: the strings that come from the
 * token (audience, issuer, token id) are fresh per token, parsed from JSON; the scopes a new frozen
 * array; partner, application id and realm shared with the registration.
 *
 * Measured: heap used and RSS before and after (after a full GC when `--expose-gc` is on, which
 * `npm run bench` passes), the peak heap and RSS seen while filling (sampled every 50,000 tokens,
 * garbage included), and the entry count.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_CACHE_ENTRIES, type S2SPrincipal } from '@s2sauth/middleware';
import { VerificationCache } from '../packages/middleware/src/verification-cache.js';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import type { BenchOutcome } from './run.js';
import { AUDIENCE, PARTNER_IDENTITY, REALM, SCOPES } from './bench-partner.js';
import { printTable, printTargets } from './table.js';

// The cache keeps the key id and certificate thumbprint of every entry; realistic 27- and 43-character values.
// The key id is read from each token's header (a fresh string per entry); the thumbprint is the key's (shared).
const KEY_ID = 'mH-TTlt-HAXC9-vjKVFtX6bAsR0';
const KEY_THUMBPRINT = 'q8tYl3m1n2b3v4c5x6z7a8s9d0f1g2h3j4k5l6p7o8i';

const TOKENS = 1_000_000;
const TARGET_MIB = 64;
const SAMPLE_EVERY = 50_000;
const MIB = 1024 * 1024;
const TOKEN_LENGTH = 890;
/** A jti is 22 chars (16 random bytes, base64url); 8 of them vary here. */
const JTI_PADDING = 'x'.repeat(14);

interface Memory {
  readonly heapUsed: number;
  readonly rss: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

function settled(): Memory {
  gc?.();
  gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

const mib = (bytes: number): string => (bytes / MIB).toFixed(1);

export default async function cacheMemoryBench(): Promise<BenchOutcome> {
  const applicationId: string = WellKnownPrincipal.lync;
  const issuerText = `${applicationId}@${REALM}`;
  // A token of the usual shape and length (the issuer's are ~890 chars): header, payload, 342
  // chars of signature; each token differs in 8 characters of its payload (where a jti would be).
  const header = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5t: randomBytes(20).toString('base64url') })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ aud: AUDIENCE, iss: issuerText, nameid: issuerText, scp: SCOPES.join(' ') })).toString('base64url');
  const signature = randomBytes(256).toString('base64url');
  const head = `${header}.${payload}`;
  const tail = `${'A'.repeat(TOKEN_LENGTH - head.length - signature.length - 9)}.${signature}`;
  const expiresAt = Date.now() + 3_600_000;
  const now = Date.now();

  const cache = new VerificationCache();
  const before = settled();
  let peak = { heapUsed: before.heapUsed, rss: before.rss };
  let tokenLength = 0;
  const started = performance.now();
  for (let i = 0; i < TOKENS; i++) {
    const id = i.toString(36).padStart(8, '0');
    const jti = `${id}${JTI_PADDING}`;
    const token = `${head}${id}${tail}`;
    tokenLength = token.length;
    const key = VerificationCache.keyOf(token);
    if (cache.get(key, now) !== undefined) throw new Error('cache-memory.bench: a distinct token hit the cache');
    // As verify() gets them: fresh strings parsed from the token's header and payload.
    const claims = JSON.parse(`{"aud":"${AUDIENCE}","iss":"${issuerText}","jti":"${jti}","kid":"${KEY_ID}"}`) as { aud: string; iss: string; jti: string; kid: string };
    const principal: S2SPrincipal = Object.freeze({
      partner: PARTNER_IDENTITY,
      applicationId,
      realm: REALM,
      issuer: `${claims.iss.split('@')[0]}@${REALM}`,
      audience: claims.aud,
      scopes: Object.freeze([...SCOPES]),
      tokenId: claims.jti,
      trust: 'metadata',
      expiresAt,
    });
    cache.set(key, { principal, registryRevision: 1, partnerUpdatedAt: now, keySetVersion: 1, keyId: claims.kid, keyThumbprint: KEY_THUMBPRINT });
    if ((i + 1) % SAMPLE_EVERY === 0) {
      const { heapUsed, rss } = process.memoryUsage();
      peak = { heapUsed: Math.max(peak.heapUsed, heapUsed), rss: Math.max(peak.rss, rss) };
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const after = settled();
  const growth = after.heapUsed - before.heapUsed;
  const entries = cache.size;

  console.log(
    `${TOKENS.toLocaleString('en')} distinct tokens of ${tokenLength} chars in ${seconds.toFixed(1)} s; VerificationCache default size ` +
      `(${DEFAULT_CACHE_ENTRIES} entries), holding ${entries}; ${gc === undefined ? 'NO --expose-gc: numbers include garbage' : 'after full GC'}`,
  );
  printTable(
    ['memory', 'before MiB', 'after MiB', 'growth MiB', 'peak MiB'],
    [
      ['heap used', mib(before.heapUsed), mib(after.heapUsed), mib(growth), mib(peak.heapUsed)],
      ['rss', mib(before.rss), mib(after.rss), mib(after.rss - before.rss), mib(peak.rss)],
    ],
  );
  console.log(`retained heap per entry: ~${(growth / Math.max(entries, 1)).toFixed(0)} bytes`);
  const target = {
    ok: growth <= TARGET_MIB * MIB && entries <= DEFAULT_CACHE_ENTRIES,
    summary: `cache heap growth ${mib(growth)} MiB after ${TOKENS.toLocaleString('en')} tokens, ${entries} entries (target <= ${TARGET_MIB} MiB)`,
  };
  printTargets([target]);
  cache.clear();
  return target;
}
