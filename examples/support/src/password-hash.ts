/**
 * Password hashes with node:crypto's scrypt (RFC 7914): a per-user random salt, a memory-hard
 * derivation, and a constant-time comparison. Stored as text, with the parameters, so they can be
 * raised later without invalidating existing hashes:
 * `scrypt$<N>$<r>$<p>$<salt base64url>$<hash base64url>`.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** The scrypt cost parameters of a hash (RFC 7914 section 2). */
export interface ScryptCost {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  /** Block size. */
  readonly r: number;
  /** Parallelization. */
  readonly p: number;
}

/**
 * Cost: N = 2^15, r = 8, p = 1 (32 MiB, tens of ms per check). OWASP suggests N = 2^17 for
 * production logins; the demo trades that for quick start-ups and tests. The parameters are
 * stored with each hash, so raising them later keeps old hashes valid.
 */
const COST = { N: 2 ** 15, r: 8, p: 1 } as const satisfies ScryptCost;
const SALT_BYTES = 16;
/** Length of a new hash. A stored one may be 16 to 64 bytes: the derivation then produces as many. */
const HASH_BYTES = 32;
const MIN_HASH_BYTES = 16;
const MAX_HASH_BYTES = 64;
/** scrypt needs 128 * N * r bytes; node's default cap (32 MiB) is exactly that, so leave room. */
const MAX_MEMORY = 64 * 1024 * 1024;

function derive(password: string, salt: Buffer, length: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, length, { ...options, maxmem: MAX_MEMORY }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

/**
 * The stored text form of a hash: `scrypt$N$r$p$salt$hash`, salt and hash in base64url. For
 * hashes made elsewhere with the same derivation (NFC-normalized password, 16 to 64 bytes), to
 * bring them to this form.
 */
export function formatPasswordHash(cost: ScryptCost, salt: Buffer, hash: Buffer): string {
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Hashes a password with a new random salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  return formatPasswordHash(COST, salt, await derive(password, salt, HASH_BYTES, COST));
}

/**
 * True when `password` matches `stored`. A malformed stored hash never matches. The comparison is
 * constant-time (`timingSafeEqual`), so the time taken does not tell how much of a guess was right.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0) || N > 2 ** 20) return false;
  const salt = Buffer.from(parts[4] as string, 'base64url');
  const expected = Buffer.from(parts[5] as string, 'base64url');
  if (salt.length === 0 || expected.length < MIN_HASH_BYTES || expected.length > MAX_HASH_BYTES) return false;
  const actual = await derive(password, salt, expected.length, { N, r, p });
  return timingSafeEqual(actual, expected);
}

let decoy: Promise<string> | undefined;

/**
 * A hash of a password nobody knows, to verify against when the user name does not exist: a
 * sign-in for an unknown user then costs as much as one for a known user with a wrong password,
 * so the response time does not reveal which user names exist. Made once per process.
 */
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  return decoy;
}

/**
 * The sign-in check: true when `stored` is a hash of `password`. `stored` is `undefined` for a user
 * name that does not exist; the password is then checked against the {@link decoyHash} and the
 * answer is false, after the same work as for a wrong password.
 */
export async function checkPassword(password: string, stored: string | undefined): Promise<boolean> {
  if (stored === undefined) {
    await verifyPassword(password, await decoyHash());
    return false;
  }
  return verifyPassword(password, stored);
}
