import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { authoritiesOf, freePort, startServerPair, urlOf, type ServerPairOptions } from '../src/server-pair.js';
import { removeTemporaryFolders, temporaryFolder } from './support.js';

const silent = pino({ level: 'silent' });

/** The options every pair here shares: both servers on 127.0.0.1 in `folder`, Exchange on any port. */
function pairIn(folder: string, lyncPort = 0): Omit<ServerPairOptions, 'trust'> {
  return {
    host: '127.0.0.1',
    lyncPort,
    exchangePort: 0,
    exchange: { dataDir: join(folder, 'exchange'), realm: 'contoso.com', logger: silent, audit: false },
    lync: { dataDir: join(folder, 'lync'), realm: 'contoso.com', logger: silent, audit: false },
  };
}

/** A port another process holds, as a server listening on it. */
async function squat(): Promise<{ squatter: Server; taken: number }> {
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  return { squatter, taken: (squatter.address() as AddressInfo).port };
}

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
      ...pairIn(folder),
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

  it('starts again with another port when the port picked for Lync was taken before Lync could bind it', async () => {
    const folder = await temporaryFolder();
    const { squatter, taken } = await squat();
    const picks: number[] = [];
    const pair = await startServerPair({
      ...pairIn(folder),
      trust: async () => {},
      // The first pick is a port another process holds by the time Lync binds; the next is free.
      pickPort: async (host) => {
        const port = picks.length === 0 ? taken : await freePort(host);
        picks.push(port);
        return port;
      },
    });
    try {
      expect(picks).to.have.length(2);
      expect(new URL(pair.lync.url).port).to.equal(String(picks[1]));
      expect((await fetch(`${pair.lync.url}/healthz`)).status).to.equal(200);
      expect((await fetch(`${pair.exchange.url}/healthz`)).status).to.equal(200);
    } finally {
      await pair.close();
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('does not replace a Lync port the caller chose: EADDRINUSE is thrown', async () => {
    const folder = await temporaryFolder();
    const { squatter, taken } = await squat();
    try {
      const error = await startServerPair({
        ...pairIn(folder, taken),
        trust: async () => {},
      }).then(
        () => undefined,
        (failure: unknown) => failure as { code?: string; port?: number },
      );
      expect(error).to.include({ code: 'EADDRINUSE', port: taken });
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('stops both servers and rethrows when trust fails', async () => {
    const folder = await temporaryFolder();
    const urls: string[] = [];
    const error = await startServerPair({
      ...pairIn(folder),
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
