import { X509Certificate } from 'node:crypto';
import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { startExchange } from '../src/index.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { fillDisk, mountTinyDisk } from '../../support/test/tiny-disk.js';
import { startTestExchange, tempDataDir, USERS } from './fake-lync.js';

describe('startExchange', () => {
  let dir: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    dir = await tempDataDir();
  });

  afterEach(async () => {
    await dir.remove();
  });

  it('creates the data folder with both databases, the certificate and a 0600 key on first start', async () => {
    const dataDir = join(dir.path, 'nested', 'exchange');
    const exchange = await startTestExchange(dataDir, { realms: ['fabrikam.com'] });
    try {
      for (const file of ['exchange.sqlite', 's2sauth.sqlite', 'oauth-cert.pem', 'oauth-key.pem', 'session-secret']) {
        expect((await stat(join(dataDir, file))).isFile(), file).to.equal(true);
      }
      expect((await stat(join(dataDir, 'oauth-key.pem'))).mode & 0o777).to.equal(0o600);
      expect((await stat(join(dataDir, 'session-secret'))).mode & 0o777).to.equal(0o600);
      const certificate = new X509Certificate(await readFile(join(dataDir, 'oauth-cert.pem')));
      expect(certificate.subject).to.equal('CN=contoso.com');
      expect(certificate.subjectAltName).to.equal('DNS:contoso.com, DNS:fabrikam.com');
    } finally {
      await exchange.close();
    }
  });

  it('answers /healthz with 200 and reports its URL and authority', async () => {
    const exchange = await startTestExchange(dir.path);
    try {
      expect(exchange.url).to.equal(`http://${exchange.authority}`);
      expect(exchange.authority).to.match(/^127\.0\.0\.1:\d+$/);
      const response = await fetch(`${exchange.url}/healthz`);
      expect(response.status).to.equal(200);
      expect(await response.json()).to.deep.equal({ status: 'ok' });
    } finally {
      await exchange.close();
    }
  });

  it('serves its metadata document and JWK set with its own certificate', async () => {
    const exchange = await startTestExchange(dir.path);
    try {
      const certificate = new X509Certificate(await readFile(join(dir.path, 'oauth-cert.pem')));
      const metadata = (await (await fetch(`${exchange.url}/metadata/json/1`)).json()) as Record<string, unknown>;
      expect(metadata['issuer']).to.equal(`${WellKnownPrincipal.exchange}@contoso.com`);
      const keys = metadata['keys'] as { keyvalue: { value: string } }[];
      expect(keys.map((key) => key.keyvalue.value)).to.deep.equal([certificate.raw.toString('base64')]);
      const jwks = (await (await fetch(`${exchange.url}/.well-known/jwks.json`)).json()) as { keys: { x5c: string[] }[] };
      expect(jwks.keys[0]?.x5c).to.deep.equal([certificate.raw.toString('base64')]);
    } finally {
      await exchange.close();
    }
  });

  it('reuses the certificate, the session secret, the users and the registry after a restart', async () => {
    const first = await startTestExchange(dir.path);
    const firstMetadata = (await (await fetch(`${first.url}/metadata/json/1`)).json()) as { keys: { keyinfo: { x5t: string } }[] };
    const secret = await readFile(join(dir.path, 'session-secret'), 'utf8');
    await first.close();

    // Seeding again with another password must not change an existing user's.
    const second = await startTestExchange(dir.path, { users: [{ username: 'ALICE@contoso.com', password: 'another password' }] });
    try {
      const secondMetadata = (await (await fetch(`${second.url}/metadata/json/1`)).json()) as { keys: { keyinfo: { x5t: string } }[] };
      expect(secondMetadata.keys[0]?.keyinfo.x5t).to.equal(firstMetadata.keys[0]?.keyinfo.x5t);
      expect(await readFile(join(dir.path, 'session-secret'), 'utf8')).to.equal(secret);
      const login = await fetch(`${second.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice@contoso.com', password: 'alice-Pa55word' }),
      });
      expect(login.status).to.equal(200);
    } finally {
      await second.close();
    }
  });

  it('refuses to start with half a key pair in the data folder', async () => {
    const exchange = await startTestExchange(dir.path);
    await exchange.close();
    await unlink(join(dir.path, 'oauth-key.pem'));
    let failure: unknown;
    try {
      await startTestExchange(dir.path);
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(TypeError);
    expect((failure as Error).message).to.contain('oauth-cert.pem but no oauth-key.pem');
  });

  it('refuses to start when the saved certificate does not cover a realm added since', async () => {
    const exchange = await startTestExchange(dir.path);
    await exchange.close();
    let failure: unknown;
    try {
      await startTestExchange(dir.path, { realms: ['fabrikam.com'] });
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(TypeError);
    expect((failure as Error).message).to.contain('fabrikam.com');
  });

  it('refuses a session secret file that is too short', async () => {
    await writeFile(join(dir.path, 'session-secret'), 'short', { mode: 0o600 });
    let failure: unknown;
    try {
      await startTestExchange(dir.path);
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(TypeError);
    expect((failure as Error).message).to.contain('session secret');
  });

  const badOptions: [string, Record<string, unknown>, string][] = [
    ['an empty data folder path', { dataDir: '' }, 'options.dataDir'],
    ['an uppercase realm', { realm: 'Contoso.com' }, 'options.realm'],
    ['a malformed extra realm', { realms: ['not a realm'] }, 'options.realms'],
    ['a port out of range', { port: 70000 }, 'options.port'],
    ['an empty host', { host: '' }, 'options.host'],
    ['a user name that is not an address', { users: [{ username: 'alice', password: 'x' }] }, 'options.users[0].username'],
    ['a user without password', { users: [{ username: 'alice@contoso.com', password: '' }] }, 'options.users[0].password'],
    ['a non-string display name', { users: [{ username: 'alice@contoso.com', password: 'x', displayName: 5 }] }, 'options.users[0].displayName'],
    ['a user listed twice', { users: [{ username: 'a@contoso.com', password: 'x' }, { username: 'A@contoso.com', password: 'y' }] }, 'twice'],
    ['users that are not a list', { users: 'alice' }, 'options.users'],
    ['a Lync URL that is not a URL', { lync: { url: 'lync' } }, 'options.lync.url'],
    ['a Lync URL that is not http', { lync: { url: 'ftp://lync.contoso.com' } }, 'options.lync.url'],
    ['a Lync without url', { lync: {} }, 'options.lync'],
    ['a malformed Lync principal', { lync: { url: 'https://lync.contoso.com', principal: 'LYNC' } }, 'options.lync.principal'],
    ['an audit sink that is not a function', { audit: 'stdout' }, 'options.audit'],
    ['a logger that is not a logger', { logger: {} }, 'options.logger'],
    ['a misspelt option name', { audits: false }, 'startExchange: unknown option "audits"; the options are dataDir, realm, realms, host, port, users, lync, sts, audit, logger.'],
  ];
  for (const [name, overrides, mentioned] of badOptions) {
    it(`refuses ${name} with a TypeError naming it`, async () => {
      let failure: unknown;
      try {
        await startTestExchange(dir.path, overrides as never);
      } catch (error) {
        failure = error;
      }
      expect(failure).to.be.instanceOf(TypeError);
      expect((failure as Error).message).to.contain(mentioned);
    });
  }

  it('refuses options that are not an object', async () => {
    let failure: unknown;
    try {
      await startExchange(null as never);
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(TypeError);
  });

  it('closes once however often close is called, and stops listening', async () => {
    const exchange = await startTestExchange(dir.path);
    await Promise.all([exchange.close(), exchange.close()]);
    let failure: unknown;
    try {
      await fetch(`${exchange.url}/healthz`);
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(Error);
  });

  it('fails to start, and releases its databases, when the port is taken', async () => {
    const first = await startTestExchange(dir.path);
    const other = await tempDataDir();
    try {
      const port = Number(first.authority.split(':')[1]);
      let failure: unknown;
      try {
        await startTestExchange(other.path, { port });
      } catch (error) {
        failure = error;
      }
      expect((failure as NodeJS.ErrnoException).code).to.equal('EADDRINUSE');
    } finally {
      await first.close();
      await other.remove();
    }
  });

  it('answers a full disk (for real, on a tiny tmpfs) at sign-in with 503 storage_unavailable, logs it once with the files, and /healthz says so until a write succeeds', async function () {
    const disk = mountTinyDisk(2);
    if (disk === undefined) this.skip();
    const lines: Record<string, unknown>[] = [];
    const logger = pino(new Writable({ write: (chunk: Buffer, _encoding, done) => { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } }));
    const dataDir = join(disk.path, 'exchange');
    const exchange = await startTestExchange(dataDir, { logger });
    try {
      const [alice] = USERS;
      const signIn = (): Promise<Response> =>
        fetch(`${exchange.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: alice.username, password: alice.password }) });
      expect((await signIn()).status).to.equal(200);
      const free = fillDisk(disk.path);
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const refused = await signIn();
        expect(refused.status).to.equal(503);
        expect(await refused.json()).to.deep.equal({
          error: 'storage_unavailable',
          message: 'The server cannot write its data (its disk is full or its files are not writable); try again later.',
        });
      }
      const unhealthy = await fetch(`${exchange.url}/healthz`);
      expect(unhealthy.status).to.equal(503);
      expect(await unhealthy.json()).to.have.property('error', 'storage_unavailable');
      const faults = lines.filter((line) => line['level'] === 50);
      expect(faults).to.have.length(1);
      expect(String(faults[0]?.['code'])).to.match(/^SQLITE_(FULL|IOERR)/);
      expect(faults[0]?.['files']).to.deep.equal([join(dataDir, 'exchange.sqlite'), join(dataDir, 's2sauth.sqlite')]);

      free();
      expect((await signIn()).status).to.equal(200);
      expect((await fetch(`${exchange.url}/healthz`)).status).to.equal(200);
    } finally {
      await exchange.close();
      disk.unmount();
    }
  });
});
