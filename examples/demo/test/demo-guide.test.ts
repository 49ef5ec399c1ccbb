import { expect } from 'chai';
import { demoGuide, shellQuote, type DemoGuideInput } from '../src/demo-guide.js';

const input: DemoGuideInput = {
  lyncUrl: 'http://127.0.0.1:4401',
  exchangeUrl: 'http://127.0.0.1:4402',
  users: ['alice@contoso.com', 'bob@contoso.com', 'carol@contoso.com'],
  password: { password: 'Pa55word_-x', source: 'generated', file: '/repo/.data/demo-password', differsFromStored: false },
  scenarioDir: '/repo/.data/onprem',
  auditLog: '/repo/.data/onprem/audit.log',
  cwd: '/repo',
};

function commands(guide: string): string[] {
  return guide.split('\n').filter((line) => line.startsWith('curl '));
}

describe('demoGuide', () => {
  it('shows both URLs, the users, the password and where it comes from', () => {
    const guide = demoGuide(input);
    expect(guide).to.include('Lync      http://127.0.0.1:4401').and.include('Exchange  http://127.0.0.1:4402');
    expect(guide).to.include('alice@contoso.com, bob@contoso.com, carol@contoso.com');
    expect(guide).to.include('Password  Pa55word_-x  (generated on this first start, kept in .data/demo-password)');
    expect(guide).to.include('Audit     .data/onprem/audit.log');
    expect(demoGuide({ ...input, password: { ...input.password, source: 'stored' } })).to.include('(generated on the first start, kept in .data/demo-password)');
    expect(demoGuide({ ...input, password: { ...input.password, source: 'environment' } })).to.include('(from S2SAUTH_DEMO_PASSWORD)');
  });

  it('warns when S2SAUTH_DEMO_PASSWORD differs from the kept password', () => {
    const guide = demoGuide({ ...input, password: { ...input.password, source: 'environment', differsFromStored: true } });
    expect(guide).to.include('S2SAUTH_DEMO_PASSWORD differs from .data/demo-password: users created earlier keep that password.');
  });

  it('prints paths under the working directory relative to it, others absolute', () => {
    expect(commands(demoGuide(input))[0]).to.include('-c .data/onprem/cookies.txt');
    const elsewhere = commands(demoGuide({ ...input, cwd: '/home/me' }));
    expect(elsewhere[0]).to.include('-c /repo/.data/onprem/cookies.txt');
    expect(demoGuide({ ...input, cwd: '/home/me' })).to.not.include('Audit     .data');
  });

  it('walks through contacts, IM archiving, meetings and the challenge with the real routes', () => {
    const list = commands(demoGuide(input));
    const routes = list.map((command) => /http:\/\/127\.0\.0\.1:\d+\/[^\s"]*/.exec(command.replace(/\$\(.*\)(?=\/\w+"$)/, ':id'))?.[0]);
    expect(routes).to.deep.equal([
      'http://127.0.0.1:4401/login',
      'http://127.0.0.1:4401/me/contacts',
      'http://127.0.0.1:4402/login',
      'http://127.0.0.1:4402/me/contacts',
      'http://127.0.0.1:4401/me/conversations',
      'http://127.0.0.1:4401/me/conversations/:id/messages',
      'http://127.0.0.1:4401/me/conversations/:id/end',
      'http://127.0.0.1:4402/me/mail',
      'http://127.0.0.1:4402/me/meetings',
      'http://127.0.0.1:4401/me/conferences',
      'http://127.0.0.1:4402/api/ucs/contacts',
    ]);
    expect(list.at(-1)).to.equal("curl -sS -i -H 'Authorization: Bearer ' http://127.0.0.1:4402/api/ucs/contacts");
  });

  it('shows the STS, the tenant and who trusts whom in the cloud scenario, with the same commands', () => {
    const tenant = '3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b';
    const cloud = { ...input, scenario: 'cloud', sts: { url: 'http://127.0.0.1:4400', tenant }, scenarioDir: '/repo/.data/cloud', auditLog: '/repo/.data/cloud/audit.log' } as const;
    const guide = demoGuide(cloud);
    expect(guide.split('\n')[0]).to.equal(`s2sauth demo: cloud (tenant ${tenant}; every server-to-server token comes from the STS)`);
    expect(guide).to.include(`  STS       http://127.0.0.1:4400      issues tokens for tenant ${tenant}`);
    expect(guide).to.include(`metadata http://127.0.0.1:4400/${tenant}/metadata/json/1, token endpoint http://127.0.0.1:4400/${tenant}/tokens/OAuth/2`);
    expect(guide).to.include('Lync      http://127.0.0.1:4401      in the tenant');
    expect(guide).to.include('trusts the STS, and Lync through it for contacts.read contacts.write archive.read archive.write');
    expect(guide).to.include("Direct    none: neither server knows the other's keys or metadata");
    expect(guide).to.include('Audit     .data/cloud/audit.log (every token accepted or refused, and every token the STS issued or refused)');
    expect(guide).to.include('trusted_issuers with the STS, authorization_uri');
    const onprem = commands(demoGuide({ ...input, scenarioDir: '/repo/.data/cloud' }));
    expect(commands(guide)).to.deep.equal(onprem);
  });

  it('shows Lync on premises and Exchange in the tenant in the hybrid scenario', () => {
    const tenant = '3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b';
    const guide = demoGuide({ ...input, scenario: 'hybrid', sts: { url: 'http://127.0.0.1:4400', tenant } });
    expect(guide.split('\n')[0]).to.equal(`s2sauth demo: hybrid (Lync on premises in contoso.com, Exchange in tenant ${tenant}; tokens from the STS)`);
    expect(guide).to.include('Lync      http://127.0.0.1:4401      on premises (realm contoso.com; its own certificate is its credential at the STS)');
    expect(guide).to.include('Exchange  http://127.0.0.1:4402      in the tenant');
    expect(commands(guide)).to.deep.equal(commands(demoGuide(input)));
  });

  it('quotes a password and paths with shell characters', () => {
    const guide = demoGuide({ ...input, password: { ...input.password, password: "it's $HOME" }, scenarioDir: '/repo/my data/onprem' });
    expect(commands(guide)[0]).to.include(`--data-urlencode 'password=it'\\''s $HOME'`).and.include(`-c 'my data/onprem/cookies.txt'`);
  });

  it('leaves safe words bare and single-quotes the rest', () => {
    expect(shellQuote('/tmp/a-b_c.txt')).to.equal('/tmp/a-b_c.txt');
    expect(shellQuote('a b')).to.equal("'a b'");
    expect(shellQuote("a'b")).to.equal(`'a'\\''b'`);
    expect(shellQuote('')).to.equal("''");
  });
});
