import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { authoritiesOf, startServerPair, urlOf } from '../src/server-pair.js';
import { removeTemporaryFolders, temporaryFolder } from './support.js';

const silent = pino({ level: 'silent' });

describe('startServerPair', () => {
  after(removeTemporaryFolders);

  it('forms URLs with bracketed IPv6 addresses', () => {
    expect(urlOf('127.0.0.1', 4401)).to.equal('http://127.0.0.1:4401');
    expect(urlOf('::1', 4401)).to.equal('http://[::1]:4401');
  });

  it("lists a server's own authority and localhost at its port, once each", () => {
    expect(authoritiesOf({ url: 'http://127.0.0.1:4402', authority: '127.0.0.1:4402' })).to.deep.equal(['127.0.0.1:4402', 'localhost:4402']);
    expect(authoritiesOf({ url: 'http://localhost:4402', authority: 'localhost:4402' })).to.deep.equal(['localhost:4402']);
  });

  it('gives each server the other\'s URL and calls trust with both running', async () => {
    const folder = await temporaryFolder();
    const seen: string[] = [];
    const pair = await startServerPair({
      host: '127.0.0.1',
      lyncPort: 0,
      exchangePort: 0,
      exchange: { dataDir: join(folder, 'exchange'), realm: 'contoso.com', logger: silent, audit: false },
      lync: { dataDir: join(folder, 'lync'), realm: 'contoso.com', logger: silent, audit: false },
      trust: async (lync, exchange) => {
        for (const server of [lync, exchange]) seen.push(String((await fetch(`${server.url}/healthz`)).status));
      },
    });
    try {
      expect(seen).to.deep.equal(['200', '200']);
    } finally {
      await pair.close();
    }
  });

  it('stops both servers and rethrows when trust fails', async () => {
    const folder = await temporaryFolder();
    const urls: string[] = [];
    const error = await startServerPair({
      host: '127.0.0.1',
      lyncPort: 0,
      exchangePort: 0,
      exchange: { dataDir: join(folder, 'exchange'), realm: 'contoso.com', logger: silent, audit: false },
      lync: { dataDir: join(folder, 'lync'), realm: 'contoso.com', logger: silent, audit: false },
      trust: async (lync, exchange) => {
        urls.push(lync.url, exchange.url);
        throw new Error('registration refused');
      },
    }).then(
      () => undefined,
      (failure: unknown) => failure as Error,
    );
    expect(error?.message).to.equal('registration refused');
    expect(urls).to.have.length(2);
    for (const url of urls) {
      const refused = await fetch(`${url}/healthz`).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(refused, url).to.be.an('error');
    }
  });
});
