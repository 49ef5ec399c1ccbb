import { expect } from 'chai';
import { describe, it } from 'mocha';
import { isLoopbackHost, isSecureUrl } from '../src/index.js';

describe('secure URLs', () => {
  it('takes every https URL, loopback included', () => {
    for (const url of ['https://mail.contoso.com/', 'https://127.0.0.1:4402/api', 'https://[::1]/']) {
      expect(isSecureUrl(new URL(url), false), url).to.equal(true);
    }
  });

  it('takes plain http only to a literal loopback host, and only when allowed', () => {
    for (const url of ['http://localhost:4402/', 'http://127.0.0.1/', 'http://127.255.0.9/', 'http://[::1]:80/', 'http://127.1/', 'http://0x7f.0.0.1/']) {
      expect(isSecureUrl(new URL(url), true), url).to.equal(true);
      expect(isSecureUrl(new URL(url), false), url).to.equal(false);
    }
  });

  it('refuses http to any other host, and every other scheme', () => {
    for (const url of ['http://mail.contoso.com/', 'http://128.0.0.1/', 'http://localhost.contoso.com/', 'http://[::2]/', 'ftp://127.0.0.1/', 'ws://127.0.0.1/', 'file:///etc/passwd']) {
      expect(isSecureUrl(new URL(url), true), url).to.equal(false);
    }
  });

  it('names loopback hosts as the URL parser spells them', () => {
    expect(isLoopbackHost('localhost')).to.equal(true);
    expect(isLoopbackHost('[::1]')).to.equal(true);
    expect(isLoopbackHost('127.0.0.1')).to.equal(true);
    expect(isLoopbackHost('::1')).to.equal(false);
    expect(isLoopbackHost('127.0.0.1.nip.io')).to.equal(false);
    expect(isLoopbackHost('LOCALHOST')).to.equal(false);
  });
});
