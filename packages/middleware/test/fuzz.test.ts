/**
 * 10,000 random and mutated tokens and headers through the Express middleware (s2sAuth, then a
 * scope guard the registered partners satisfy, then a route), driven in-process with
 * request/response stand-ins so that it runs in seconds. The oracle: s2sAuth accepts only a token
 * the test knows to be valid (an unmodified seed, or a token the partner itself signed, see
 * `mayAccept`), and those do reach the route; anything else is answered 400, 401, 403 or 503 with a
 * challenge. No error escapes to Express, no promise
 * is left rejected, and neither the answer nor the audit log repeats the token. Each test checks
 * its own statistics, so the tests pass in any order.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { after, before, describe, it } from 'mocha';
import fc from 'fast-check';
import type { NextFunction, Request, Response } from 'express';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import type { S2SPrincipal } from '../src/principal.js';
import { requireScope } from '../src/guards.js';
import { MemoryStore } from '@s2sauth/store';
import { createCertificate, createPartner, type MetadataServer, type TestPartner } from '@s2sauth/test-support/partners';
import type { AuditEvent } from '../src/audit.js';
import { s2sAuth } from '../src/express.js';
import { PartnerRegistry } from '../src/registry.js';
import { createVerifier, type Verifier } from '../src/verifier.js';

const OWN = WellKnownPrincipal.exchange;
const AUDIENCE = `${OWN}/mail.contoso.com@contoso.com`;
const START = Date.UTC(2030, 0, 15, 12, 0, 0);
const SEED = 20300115;
const ALLOWED = [400, 401, 403, 503];

interface Outcome {
  readonly status: number;
  readonly headers: ReadonlyMap<string, unknown>;
  readonly body: string;
  readonly passedOn: boolean;
  readonly errorPassed: unknown;
  /** The principal the route was given, when it ran. */
  readonly principal: S2SPrincipal | undefined;
}

/** The fields of a request the middleware reads. */
interface FuzzRequest {
  readonly rawHeaders: readonly string[];
  readonly url?: string;
  readonly body?: unknown;
}

const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64url');

describe('fuzzing s2sAuth', function () {
  // Generous for slow CI machines; locally the whole file takes a few seconds.
  this.timeout(180_000);

  const now = START;
  let lync: TestPartner;
  let sharepoint: TestPartner;
  let legacy: TestPartner;
  let down: TestPartner;
  let sharepointMetadata: MetadataServer;
  let downMetadata: MetadataServer;
  let store: MemoryStore;
  let registry: PartnerRegistry;
  let verifier: Verifier;
  let chain: (req: Request, res: Response, next: NextFunction) => void;
  let seeds: string[];
  /** Tokens signed by lync's own key over header and payload text the test wrote (re-signed mutations, random JSON). */
  const partnerSigned = new Set<string>();
  /** How many tokens the route accepted, by the oracle's reason. */
  const accepted = new Map<string, number>();
  let auditLeaks: string[];
  let currentToken = '';
  const statuses = new Map<number, number>();
  const codes = new Map<string, number>();
  const escaped: unknown[] = [];
  const onEscape = (error: unknown): void => {
    escaped.push(error);
  };

  before(async () => {
    const options = { notBefore: new Date(START - 86_400_000), validityDays: 366 };
    lync = await createPartner({ principal: WellKnownPrincipal.lync, identity: 'microsoft.lync', certificate: await createCertificate(['contoso.com'], options) });
    sharepoint = await createPartner({ principal: WellKnownPrincipal.sharepoint, identity: 'microsoft.sharepoint', certificate: await createCertificate(['contoso.com'], options) });
    legacy = await createPartner({ identity: 'legacy', certificate: await createCertificate(['contoso.com'], options) });
    down = await createPartner({ identity: 'down', certificate: await createCertificate(['contoso.com'], options) });
    sharepointMetadata = await sharepoint.serveMetadata();
    downMetadata = await down.serveMetadata();
    store = new MemoryStore({ clock: () => now });
    registry = new PartnerRegistry({ store, clock: () => now });
    await registry.add({ identity: lync.identity, applicationId: lync.principal, realm: 'contoso.com', certificate: lync.certificate.pem, scopes: ['contacts.read'] });
    await registry.add({ identity: sharepoint.identity, metadataUrl: sharepointMetadata.url, allowLoopback: true, scopes: ['contacts.read'] });
    await registry.add({ identity: legacy.identity, applicationId: legacy.principal, realm: 'contoso.com', certificate: legacy.certificate.pem, acceptUnsignedUserContext: true });
    await registry.add({ identity: down.identity, metadataUrl: downMetadata.url, allowLoopback: true });
    downMetadata.respondWith('down', 500);
    auditLeaks = [];
    verifier = createVerifier({
      principal: OWN,
      realms: 'contoso.com',
      authorities: ['mail.contoso.com'],
      registry,
      clock: () => now,
      audit: (event: AuditEvent) => {
        codes.set(event.code ?? event.decision, (codes.get(event.code ?? event.decision) ?? 0) + 1);
        const text = JSON.stringify(event);
        const signature = currentToken.split('.')[2] ?? '';
        if (signature.length >= 16 && text.includes(signature)) auditLeaks.push(text);
      },
    });
    // The oracle looks at what s2sAuth accepted (req.s2s), before the guard: a guard's 403 would
    // otherwise hide a wrongly accepted token. The guard grants what lync and sharepoint were
    // registered with, so accepted tokens reach the route (200) or get the guard's 403.
    const auth = s2sAuth({ verifier });
    const guard = requireScope('contacts.read');
    chain = (req, res, next) => auth(req, res, (error?: unknown) => (error === undefined ? guard(req, res, next) : next(error)));

    const s = Math.floor(now / 1000);
    const actor = (partner: TestPartner, extra: Record<string, unknown> = {}): string => partner.mint(partner.actorClaims(AUDIENCE, s, extra));
    seeds = [
      actor(lync),
      actor(lync, { scp: 'contacts.read' }),
      lync.mintUser(actor(lync, { trustedfordelegation: 'true' })),
      legacy.mintUser(actor(legacy, { trustedfordelegation: 'true' }), {}, { sign: 'none' }),
      actor(sharepoint),
      actor(down),
    ];
    // The oracle counts on these being valid (the last, whose metadata is down, is not).
    for (const token of seeds.slice(0, 5)) await verifier.verify(token);
    process.on('unhandledRejection', onEscape);
    process.on('uncaughtException', onEscape);
  });

  after(async () => {
    process.off('unhandledRejection', onEscape);
    process.off('uncaughtException', onEscape);
    verifier.close();
    registry.close();
    store.close();
    await sharepointMetadata.close();
    await downMetadata.close();
  });

  /** Runs one request through s2sAuth and the guard with stand-ins, until it is answered or passed on. */
  function run(input: FuzzRequest): Promise<Outcome> {
    return new Promise((resolve) => {
      const headers = new Map<string, unknown>();
      const parsed: Record<string, string> = {};
      for (let i = 0; i + 1 < input.rawHeaders.length; i += 2) {
        const name = (input.rawHeaders[i] as string).toLowerCase();
        parsed[name] ??= input.rawHeaders[i + 1] as string;
      }
      const url = input.url ?? '/contacts';
      const req = { method: 'GET', url, originalUrl: url, headers: parsed, rawHeaders: input.rawHeaders, query: {}, body: input.body };
      let finished = false;
      const finish = (passedOn: boolean, errorPassed: unknown, body = ''): void => {
        if (finished) throw new Error('answered twice');
        finished = true;
        resolve({ status: res.statusCode, headers, body, passedOn, errorPassed, principal: (req as { s2s?: S2SPrincipal }).s2s });
      };
      const res = {
        statusCode: 200,
        headersSent: false,
        setHeader(name: string, value: unknown) {
          headers.set(name.toLowerCase(), value);
          return res;
        },
        appendHeader(name: string, value: unknown) {
          headers.set(name.toLowerCase(), value);
          return res;
        },
        getHeader: (name: string) => headers.get(name.toLowerCase()),
        removeHeader(name: string) {
          headers.delete(name.toLowerCase());
        },
        writeHead() {
          return res;
        },
        end(body?: string) {
          res.headersSent = true;
          finish(false, undefined, body ?? '');
        },
      };
      chain(req as unknown as Request, res as unknown as Response, (error?: unknown) => finish(true, error));
    });
  }

  /**
   * The oracle: why `token` may be accepted for `principal`, or undefined when it may not.
   * - an unmodified seed (every seed but the `down` partner's is valid: `before` checks it). A
   *   mutation that leaves the text as it was (a character replaced by itself, a no-op replace)
   *   gives the seed itself; one that changes the text gives other bytes, and base64url is decoded
   *   canonically (protocol/base64url.ts), so no other string decodes to a seed's bytes.
   * - a token lync signed itself over header and payload text the test wrote (a re-signed
   *   mutation, a random JSON document): the signature is genuine, and whether its claims are
   *   acceptable is what the other tests decide; it may only be accepted as lync.
   * - legacy's user context: legacy is registered with acceptUnsignedUserContext, so an unsigned
   *   outer token (mutated or not) is its word about the user by design; it may only be accepted
   *   as legacy, over legacy's unmodified actor token.
   */
  function mayAccept(token: string, principal: S2SPrincipal): string | undefined {
    if (seeds.includes(token)) return 'unmodified seed';
    if (partnerSigned.has(token)) return principal.partner === lync.identity ? 'signed by lync' : undefined;
    const [h = '', p = ''] = token.split('.');
    const header = Buffer.from(h, 'base64url').toString('utf8');
    const payload = Buffer.from(p, 'base64url').toString('utf8');
    const legacyActor = (JSON.parse(Buffer.from((seeds[3] as string).split('.')[1] as string, 'base64url').toString('utf8')) as { actortoken: string }).actortoken;
    if (principal.partner === legacy.identity && /"alg":"none"/.test(header) && payload.includes(`"actortoken":"${legacyActor}"`)) return 'legacy unsigned user context';
    return undefined;
  }

  async function check(input: FuzzRequest, token: string): Promise<void> {
    currentToken = token;
    const outcome = await run(input);
    statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
    expect(outcome.errorPassed).to.equal(undefined);
    if (outcome.passedOn) expect(outcome.principal, 'the route ran without a principal').to.not.equal(undefined);
    if (outcome.principal !== undefined) {
      // The token the route was given is one of the request's Authorization credentials.
      const credentials = [token];
      for (let i = 0; i + 1 < input.rawHeaders.length; i += 2) {
        const match = /^bearer[ \t]+(.*)$/is.exec(input.rawHeaders[i + 1] as string);
        if ((input.rawHeaders[i] as string).toLowerCase() === 'authorization' && match) credentials.push(match[1] as string);
      }
      const reason = credentials.map((credential) => mayAccept(credential, outcome.principal as S2SPrincipal)).find((why) => why !== undefined);
      expect(reason, `accepted a token that is not known to be valid (as ${outcome.principal?.partner})`).to.be.a('string');
      accepted.set(reason as string, (accepted.get(reason as string) ?? 0) + 1);
      if (outcome.passedOn) return;
    }
    expect(ALLOWED, `status ${outcome.status}`).to.include(outcome.status);
    expect(String(outcome.headers.get('www-authenticate'))).to.match(/^Bearer realm="contoso\.com", client_id="/);
    expect(outcome.headers.has('set-cookie')).to.equal(false);
    const signature = token.split('.')[2] ?? '';
    if (signature.length >= 16) expect(outcome.body).not.to.include(signature);
  }

  // ---- generators ----

  const oddChars = fc.constantFrom('.', '=', '+', '/', '-', '_', ' ', '\t', ',', '"', '\\', '\u0000', '\u00ff', '\u00e9', '\ud800', '\u2028', '\ufeff', '%', 'A', 'z', '0');
  const hugeNumbers = fc.constantFrom('1e400', '-1e400', '1e308', '123456789012345678901234567890', '-0', '0.0000001', '9999999999', '10000000000', '1.5', 'NaN', 'Infinity', '0x10', '01');
  const oddStrings = fc.constantFrom('"\\ud800"', '"\\u0000"', '"\u00ff"', '""', '"a".repeat', '{"__proto__":{"x":1}}', '[]', 'null', 'true', '"true"', '"\\"', '"' + 'x'.repeat(5000) + '"');
  const seed = fc.integer({ min: 0, max: 5 }).map((i) => i);

  /** Textual mutations of a JSON document (the decoded header or payload). */
  const jsonMutation = fc.oneof(
    fc.tuple(hugeNumbers, fc.nat()).map(([value, at]) => (text: string) => {
      const numbers = [...text.matchAll(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)];
      const match = numbers[at % Math.max(1, numbers.length)];
      return match?.index === undefined ? `${text}${value}` : `${text.slice(0, match.index)}${value}${text.slice(match.index + match[0].length)}`;
    }),
    fc.tuple(fc.constantFrom('aud', 'iss', 'nameid', 'exp', 'nbf', 'alg', 'x5t', 'kid', 'actortoken', 'trustedfordelegation', 'scp'), fc.oneof(hugeNumbers, oddStrings)).map(
      ([name, value]) => (text: string) => text.replace(/^\{/, `{"${name}":${value},`),
    ),
    fc.tuple(fc.constantFrom('aud', 'iss', 'exp', 'alg', 'x5t', 'actortoken'), fc.oneof(hugeNumbers, oddStrings)).map(
      ([name, value]) => (text: string) => text.replace(new RegExp(`"${name}":("[^"]*"|[^,}]*)`), `"${name}":${value}`),
    ),
    fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 4 })).map(([at, insert]) => (text: string) => {
      const i = at % (text.length + 1);
      return `${text.slice(0, i)}${insert}${text.slice(i)}`;
    }),
    fc.constantFrom(
      (text: string) => text.replace(/"alg":"[^"]*"/, '"alg":"none"'),
      (text: string) => text.replace(/"alg":"[^"]*"/, '"alg":"HS256"'),
      (text: string) => text.replace(/^\{/, '{"jku":"https://attacker.example/k",'),
      (text: string) => text.replace(/^\{/, '{"x5c":["AAAA"],'),
      (text: string) => text.replace(/^\{/, '{"crit":["exp"],'),
      (text: string) => `[${text}]`,
      (text: string) => text.slice(0, Math.floor(text.length / 2)),
      (text: string) => `${text}${text}`,
      (text: string) => text.replace(/}$/, ',"deep":' + '['.repeat(40) + ']'.repeat(40) + '}'),
    ),
  );

  /** Mutations of the compact token text itself. */
  const tokenMutation = fc.oneof(
    fc.tuple(fc.nat(), oddChars).map(([at, char]) => (token: string) => {
      const i = at % token.length;
      return `${token.slice(0, i)}${char}${token.slice(i + 1)}`;
    }),
    fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 8 })).map(([at, insert]) => (token: string) => {
      const i = at % (token.length + 1);
      return `${token.slice(0, i)}${insert}${token.slice(i)}`;
    }),
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 })).map(([at, length]) => (token: string) => {
      const i = at % token.length;
      return `${token.slice(0, i)}${token.slice(i + length)}`;
    }),
    fc.constantFrom<readonly number[]>([1, 0, 2], [0, 2, 1], [2, 1, 0], [0, 0, 2], [0, 1, 1], [0, 1], [0, 1, 2, 2], [1, 1, 1]).map(
      (order) => (token: string) => {
        const parts = token.split('.');
        return order.map((i) => parts[i] ?? '').join('.');
      },
    ),
    fc.constantFrom(
      (token: string) => token.replace(/\.[^.]*$/, '.'),
      (token: string) => `${token}=`,
      (token: string) => token.replaceAll('-', '+').replaceAll('_', '/'),
      (token: string) => token.repeat(3),
      (token: string) => `${token}.${token}`,
    ),
  );

  /** A seed token with its header or payload re-encoded after a JSON mutation, re-signed (so claims are reached) or not. */
  const reencoded = fc.tuple(seed, fc.boolean(), jsonMutation, fc.boolean()).map(([index, payloadSide, mutate, resign]) => {
    const token = seeds[index] as string;
    const [h = '', p = '', s = ''] = token.split('.');
    const header = Buffer.from(h, 'base64url').toString('utf8');
    const payload = Buffer.from(p, 'base64url').toString('utf8');
    const [newHeader, newPayload] = payloadSide ? [header, mutate(payload)] : [mutate(header), payload];
    if (resign && /RS256/.test(newHeader)) {
      const signed = lync.mintRaw(newHeader, newPayload);
      partnerSigned.add(signed);
      return signed;
    }
    return `${b64(newHeader)}.${b64(newPayload)}.${s}`;
  });

  const mutated = fc.oneof(
    fc.tuple(seed, fc.array(tokenMutation, { minLength: 1, maxLength: 3 })).map(([index, mutations]) =>
      mutations.reduce((token, mutate) => mutate(token), seeds[index] as string),
    ),
    reencoded,
  );

  const schemeCase = fc.mixedCase(fc.constant('bearer'));
  const nameCase = fc.mixedCase(fc.constant('authorization'));
  const anyToken = fc.oneof(mutated, fc.string({ unit: 'binary', maxLength: 200 }), fc.stringMatching(/^[A-Za-z0-9\-._~+/]{0,300}=*$/));

  /** One Authorization header value: a well-formed bearer credential most of the time, anything otherwise. */
  const authorizationValue = fc.oneof(
    { weight: 5, arbitrary: fc.tuple(schemeCase, fc.constantFrom(' ', '  ', '\t', ''), anyToken).map(([scheme, space, token]) => `${scheme}${space}${token}`) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }) },
    { weight: 1, arbitrary: fc.constantFrom('Basic dXNlcjpwYXNz', 'Negotiate YII=', 'Bearer', 'Bearer ', '', ' ', 'Bearer a, Bearer b', `Bearer ${'a'.repeat(9000)}`) },
  );

  /** Random raw header lists: 0 to 3 Authorization headers in any case, among other headers. */
  const headerSet = fc
    .tuple(
      fc.array(fc.tuple(nameCase, authorizationValue), { minLength: 0, maxLength: 3 }),
      fc.array(fc.tuple(fc.constantFrom('Host', 'Cookie', 'X-Forwarded-For', 'Content-Type'), fc.string({ maxLength: 20 })), { maxLength: 2 }),
      fc.constantFrom(undefined, '/contacts?access_token=x', '/contacts?a=1&access_token', '/contacts?access%5Ftoken=1', '/contacts?x=access_token'),
      fc.constantFrom(undefined, { access_token: 'x' }, { other: 1 }, 'access_token=x', null),
    )
    .map(([authorizations, others, url, body]) => {
      const rawHeaders = [...others.flat(), ...authorizations.flat()];
      return { input: { rawHeaders, ...(url === undefined ? {} : { url }), body } as FuzzRequest, token: authorizations[0]?.[1] ?? '' };
    });

  /** Random JSON documents as header and payload, merged into plausible claims, signed with a registered key. */
  const jsonDocuments = fc
    .tuple(fc.dictionary(fc.constantFrom('alg', 'typ', 'x5t', 'kid', 'x5t#S256', 'zip', 'b64'), fc.jsonValue({ maxDepth: 2 })), fc.jsonValue({ maxDepth: 3 }), fc.boolean())
    .map(([header, claims, signed]) => {
      const base = lync.actorClaims(AUDIENCE, Math.floor(now / 1000));
      const payload = typeof claims === 'object' && claims !== null && !Array.isArray(claims) ? { ...base, ...claims } : claims;
      const headerText = JSON.stringify({ alg: 'RS256', x5t: lync.certificate.x5t, ...header });
      const payloadText = JSON.stringify(payload) ?? 'null';
      if (!signed) return `${b64(headerText)}.${b64(payloadText)}.${b64(randomBytes(8))}`;
      const token = lync.mintRaw(headerText, payloadText);
      partnerSigned.add(token);
      return token;
    });

  // ---- properties: 5,000 + 3,000 + 2,000 = 10,000 requests ----

  interface Statistics {
    readonly statuses: ReadonlyMap<number, number>;
    readonly codes: ReadonlyMap<string, number>;
    readonly accepted: ReadonlyMap<string, number>;
  }

  /**
   * Runs `numRuns` requests of one property with fresh counters, checks what every run must hold
   * (every request answered once, nothing escaped, no signature in the audit log) and returns the
   * statistics of this property alone, so that no test depends on another having run.
   */
  async function fuzz<T>(arbitrary: fc.Arbitrary<T>, seed: number, numRuns: number, request: (value: T) => { input: FuzzRequest; token: string }): Promise<Statistics> {
    statuses.clear();
    codes.clear();
    accepted.clear();
    escaped.length = 0;
    auditLeaks.length = 0;
    await fc.assert(
      fc.asyncProperty(arbitrary, async (value) => {
        const { input, token } = request(value);
        await check(input, token);
      }),
      { seed, numRuns },
    );
    // Unhandled rejections are reported after a turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    expect(escaped, 'a promise rejection or exception escaped').to.deep.equal([]);
    expect(auditLeaks, 'the audit log repeated a signature').to.deep.equal([]);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).to.equal(numRuns);
    if (process.env['S2S_FUZZ_STATS']) console.log(statuses, codes, accepted);
    return { statuses: new Map(statuses), codes: new Map(codes), accepted: new Map(accepted) };
  }

  it('answers 5,000 mutated tokens with 400, 401, 403 or 503, and accepts only valid ones', async () => {
    const stats = await fuzz(mutated, SEED, 5000, (token) => ({ input: { rawHeaders: ['Host', 'mail.contoso.com', 'Authorization', `Bearer ${token}`] }, token }));
    for (const status of [...ALLOWED, 200]) expect(stats.statuses.get(status) ?? 0, `answers with ${status}`).to.be.greaterThan(0);
    for (const reason of ['unmodified seed', 'signed by lync', 'legacy unsigned user context']) expect(stats.accepted.get(reason) ?? 0, reason).to.be.greaterThan(0);
    expect(stats.codes.size, 'different failure codes').to.be.greaterThan(20);
  });

  it('answers 3,000 random header sets (values, cases, duplicates, query and body tokens) the same way', async () => {
    const stats = await fuzz(headerSet, SEED + 1, 3000, (value) => value);
    for (const status of [400, 401]) expect(stats.statuses.get(status) ?? 0, `answers with ${status}`).to.be.greaterThan(0);
    expect(stats.codes.size, 'different failure codes').to.be.greaterThan(10);
  });

  it('answers 2,000 tokens with random JSON headers and claims, most of them validly signed, the same way', async () => {
    const stats = await fuzz(jsonDocuments, SEED + 2, 2000, (token) => ({ input: { rawHeaders: ['Authorization', `Bearer ${token}`] }, token }));
    expect(stats.accepted.get('signed by lync') ?? 0, 'valid tokens that reached the route').to.be.greaterThan(0);
    expect(stats.statuses.get(401) ?? 0).to.be.greaterThan(0);
    expect(stats.codes.size, 'different failure codes').to.be.greaterThan(5);
  });
});
