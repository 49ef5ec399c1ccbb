import { expect } from 'chai';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { startOnPremises } from '../src/onprem.js';
import { freePort, removeTemporaryFolders, temporaryFolder } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The demo README's "register your own Express app" block, exactly as a reader copies it. */
async function partnerExample(): Promise<string> {
  const readme = await readFile(join(here, '..', 'README.md'), 'utf8');
  const match = /<!-- demo-partner-example:start -->\s*```ts\n([\s\S]*?)```\s*<!-- demo-partner-example:end -->/.exec(readme);
  if (!match?.[1]) throw new Error('examples/demo/README.md has no demo-partner-example block');
  return match[1];
}

describe('demo README: register your own Express app as a partner of the demo servers', () => {
  // Written inside the repository so that it resolves the workspace packages as the reader's file would.
  const dir = join(here, '.tmp');
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await removeTemporaryFolders();
  });

  it('runs as printed against a running Exchange, which picks up the registration without a restart', async function () {
    this.timeout(60_000);
    const data = join(await temporaryFolder(), 'data');
    const pair = await startOnPremises({ dataDir: join(data, 'onprem'), lyncPort: 0, exchangePort: 0, password: 'pw', logger: pino({ level: 'silent' }), audit: false });
    try {
      const alice = await fetch(`${pair.lync.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice@contoso.com', password: 'pw' }) });
      const cookie = (alice.headers.get('set-cookie') ?? '').split(';')[0] as string;
      const added = await fetch(`${pair.lync.url}/me/contacts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie },
        body: JSON.stringify({ displayName: 'Bob Brown', email: 'bob@contoso.com' }),
      });
      expect(added.status).to.equal(201);

      // The same block with this test's folder and ports instead of .data and 4402/4410.
      const appPort = await freePort();
      const source = (await partnerExample())
        .replaceAll('.data/', `${data}/`)
        .replaceAll('http://127.0.0.1:4402', pair.exchange.url)
        .replaceAll('4410', String(appPort));
      await mkdir(dir, { recursive: true });
      const file = join(dir, `my-app-${process.pid}.ts`);
      await writeFile(file, source);
      // A separate process, as a reader runs it; kept out of coverage (an empty NODE_V8_COVERAGE),
      // whose merge a second load of the same sources would only blur.
      const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=s2sauth-source', '--import=tsx', file], {
        cwd: here,
        env: { ...process.env, NODE_V8_COVERAGE: '' },
      });
      const contacts = JSON.parse(stdout.trim()) as { email: string }[];
      expect(contacts.map((contact) => contact.email)).to.deep.equal(['bob@contoso.com']);
      expect(pair.exchange.registry.get('my.app')).to.include({ applicationId: '5b1f8d6e-3f5a-4c1e-9a57-0c9e2d6f4b21', realm: 'contoso.com' });
    } finally {
      await pair.close();
    }
  });
});
