import { randomBytes, scryptSync } from 'node:crypto';
import { expect } from 'chai';
import { checkPassword, decoyHash, formatPasswordHash, hashPassword, verifyPassword } from '../src/password-hash.js';

describe('password hashes', () => {
  it('verifies the password it hashed and refuses another', async () => {
    const hash = await hashPassword('correct horse');
    expect(hash).to.match(/^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(await verifyPassword('correct horse', hash)).to.equal(true);
    expect(await verifyPassword('correct horsf', hash)).to.equal(false);
  });

  it('salts every hash, so one password hashes differently twice', async () => {
    expect(await hashPassword('same')).not.to.equal(await hashPassword('same'));
  });

  it('treats canonically equal Unicode spellings of a password as the same password', async () => {
    const hash = await hashPassword('caf\u00e9');
    expect(await verifyPassword('cafe\u0301', hash)).to.equal(true);
  });

  it('never matches a malformed stored hash', async () => {
    const hash = await hashPassword('pw');
    const parts = hash.split('$');
    for (const stored of ['', 'plain', hash.replace('scrypt', 'bcrypt'), [...parts.slice(0, 5)].join('$'), ['scrypt', '0', '8', '1', parts[4], parts[5]].join('$'),
      ['scrypt', String(2 ** 21), '8', '1', parts[4], parts[5]].join('$'), ['scrypt', '32768', '8', '1', '', parts[5]].join('$'), ['scrypt', '32768', '8', '1', parts[4], 'AAAA'].join('$')]) {
      expect(await verifyPassword('pw', stored), stored).to.equal(false);
    }
  });

  it('keeps one decoy hash that no password is known for', async () => {
    const decoy = await decoyHash();
    expect(await decoyHash()).to.equal(decoy);
    expect(await verifyPassword('', decoy)).to.equal(false);
  });

  it('verifies a hash of another length made with the same derivation, once in the stored form', async () => {
    // Lync's database version 1 kept 64-byte hashes in two BLOB columns.
    const salt = randomBytes(16);
    const hash = scryptSync('caf\u00e9', salt, 64, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    const stored = formatPasswordHash({ N: 32768, r: 8, p: 1 }, salt, hash);
    expect(stored).to.match(/^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{86}$/);
    expect(await verifyPassword('cafe\u0301', stored)).to.equal(true);
    expect(await verifyPassword('cafe', stored)).to.equal(false);
    const tooLong = formatPasswordHash({ N: 32768, r: 8, p: 1 }, salt, Buffer.concat([hash, hash]));
    expect(await verifyPassword('caf\u00e9', tooLong)).to.equal(false);
  });

  it('checks a sign-in against the stored hash, and an unknown user against the decoy, never matching', async () => {
    const hash = await hashPassword('pw');
    expect(await checkPassword('pw', hash)).to.equal(true);
    expect(await checkPassword('other', hash)).to.equal(false);
    expect(await checkPassword('pw', undefined)).to.equal(false);
    expect(await checkPassword('', undefined)).to.equal(false);
  });
});
