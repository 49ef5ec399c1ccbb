/**
 * Test partners: a partner application's identity, OAuth certificate and metadata endpoint, and
 * the tokens it (or an attacker posing as it) sends. Shared by the tests of every package.
 *
 * Security tests need tokens no well-behaved issuer would make: duplicate members, `1e400`,
 * string dates, `alg` `none` or `HS256`, a key id that names another certificate. `mintRaw` takes
 * the header and payload as raw JSON text and signs exactly those bytes, so whatever is written
 * in a test reaches the verifier unchanged.
 */
import { createHmac, randomBytes, randomUUID, sign as rsaSign, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { OAuthCertificate, type CreateCertificateOptions } from '@s2sauth/issuer';

/** How `mintRaw` signs: RS256 with an RSA private key, no signature (`alg` none), or HS256 with a secret. */
export type SignWith = 'rs256' | 'none' | 'hs256';

/** Options of {@link compactJws} and `TestPartner.mintRaw`. */
export interface MintRawOptions {
  /** Default `rs256`. */
  readonly sign?: SignWith;
  /** RS256: a private RSA `KeyObject` (default: the partner's). HS256: the secret bytes or text. */
  readonly key?: KeyObject | Buffer | string;
}

/** A local metadata endpoint for a test partner. */
export interface MetadataServer {
  /** `http://127.0.0.1:<port>/metadata/json/1`. */
  readonly url: string;
  /** How many requests the server has answered (any path), e.g. to assert that none was made. */
  readonly requests: number;
  /**
   * Changes what the server answers from now on: an object (sent as JSON), raw text, or
   * `undefined` for the partner's current document; with an HTTP status (default 200).
   */
  respondWith(body?: string | object, status?: number): void;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Options of {@link createPartner}. */
export interface CreatePartnerOptions {
  /** Principal id; default a random lowercase GUID. */
  readonly principal?: string;
  /** Realm; default `contoso.com`. */
  readonly realm?: string;
  /** Registration identity; default `partner-<first 8 hex digits of the principal>`. */
  readonly identity?: string;
  /** All realms of the certificate (SAN); default `[realm]`. */
  readonly realms?: readonly string[];
  /** Use this certificate instead of creating one (e.g. to share a key between two partners). */
  readonly certificate?: OAuthCertificate;
}

/** A partner application for tests. */
export interface TestPartner {
  readonly principal: string;
  readonly realm: string;
  readonly identity: string;
  /** `<principal>@<realm>`. */
  readonly issuerId: string;
  /** The certificate tokens are signed with (changed by `rollTo`). */
  readonly certificate: OAuthCertificate;
  /** Makes `certificate` the signing certificate; the metadata document publishes it (first). */
  rollTo(certificate: OAuthCertificate): void;
  /**
   * The partner's Microsoft-shaped `/metadata/json/1` document listing `certificates` (default:
   * the signing certificate), with `overrides` applied (a member set to `undefined` is removed).
   */
  metadataDocument(options?: { readonly certificates?: readonly OAuthCertificate[]; readonly overrides?: Record<string, unknown> }): Record<string, unknown>;
  /** Serves `metadataDocument()` on 127.0.0.1 at an ephemeral port. */
  serveMetadata(): Promise<MetadataServer>;
  /**
   * Actor token claims for `audience` at `now` (seconds): `aud`, `iss` = `nameid` = the issuer id,
   * `nbf` = `iat` = now, `exp` = now + 3600, a random `jti`; `overrides` replace or (when
   * `undefined`) remove members.
   */
  actorClaims(audience: string, now: number, overrides?: Record<string, unknown>): Record<string, unknown>;
  /**
   * An RS256 token over `claims`, header `{"typ":"JWT","alg":"RS256","x5t":…,"kid":…}` with
   * `header` overrides (a member set to `undefined` is removed); signed with `key` or the partner's key.
   */
  mint(claims: Record<string, unknown>, header?: Record<string, unknown>, key?: KeyObject): string;
  /** A token from raw header and payload JSON text, signed as `options` say (default RS256 with the partner's key). */
  mintRaw(headerJson: string, payloadJson: string, options?: MintRawOptions): string;
  /**
   * An outer (user context) token over `actorToken`: `aud`, `nbf`, `exp` copied from the actor,
   * `iss` = the actor's `nameid`, `nameid` = `alice@<realm>`, `nii`, `actortoken`; `claims`
   * override (undefined removes). Signed RS256 with the partner's key unless `sign` is `none`.
   */
  mintUser(
    actorToken: string,
    claims?: Record<string, unknown>,
    options?: { readonly sign?: 'rs256' | 'none'; readonly header?: Record<string, unknown>; readonly key?: KeyObject },
  ): string;
}

const b64url = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

/** Applies overrides: a member set to `undefined` is removed, any other value replaces. */
function withOverrides(base: Record<string, unknown>, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const result: Record<string, unknown> = { ...base };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete result[name];
    else result[name] = value;
  }
  return result;
}

/**
 * A compact JWS from raw header and payload JSON text: RS256 (`key` a private RSA KeyObject),
 * HS256 (`key` the secret), or unsigned (empty signature segment).
 */
export function compactJws(headerJson: string, payloadJson: string, options: MintRawOptions = {}): string {
  const signingInput = `${b64url(headerJson)}.${b64url(payloadJson)}`;
  const method = options.sign ?? 'rs256';
  if (method === 'none') return `${signingInput}.`;
  const { key } = options;
  if (key === undefined) throw new TypeError('compactJws: a key is needed to sign');
  if (method === 'hs256') {
    if (typeof key !== 'string' && !Buffer.isBuffer(key)) throw new TypeError('compactJws: HS256 needs secret bytes or text');
    return `${signingInput}.${createHmac('sha256', key).update(signingInput).digest('base64url')}`;
  }
  if (typeof key === 'string' || Buffer.isBuffer(key)) throw new TypeError('compactJws: RS256 needs a private KeyObject');
  return `${signingInput}.${rsaSign('sha256', Buffer.from(signingInput), key).toString('base64url')}`;
}

/** The decoded payload of a compact JWS (test use only: no checks). */
export function decodePayload(token: string): Record<string, unknown> {
  const segment = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * A new OAuth certificate for `realms` (2048-bit RSA; by default valid from 5 minutes ago for a
 * year). Tests on a fixed clock pass `notBefore` and `validityDays` so the certificate does not
 * depend on the real date.
 */
export function createCertificate(
  realms: readonly string[] = ['contoso.com'],
  options: Omit<CreateCertificateOptions, 'realms'> = {},
): Promise<OAuthCertificate> {
  return OAuthCertificate.create({ ...options, realms });
}

/** Creates a test partner with a fresh certificate (or the one given). */
export async function createPartner(options: CreatePartnerOptions = {}): Promise<TestPartner> {
  const principal = options.principal ?? randomUUID();
  const realm = options.realm ?? 'contoso.com';
  const identity = options.identity ?? `partner-${principal.slice(0, 8)}`;
  const issuerId = `${principal}@${realm}`;
  let certificate = options.certificate ?? (await createCertificate(options.realms ?? [realm]));

  function metadataDocument(
    documentOptions: { readonly certificates?: readonly OAuthCertificate[]; readonly overrides?: Record<string, unknown> } = {},
  ): Record<string, unknown> {
    const certificates = documentOptions.certificates ?? [certificate];
    return withOverrides(
      {
        id: `_${principal}`,
        version: '1.0',
        name: identity,
        realm,
        serviceName: principal,
        issuer: issuerId,
        allowedAudiences: [issuerId],
        keys: certificates.map((c) => ({
          usage: 'signing',
          keyinfo: { x5t: c.x5t },
          keyvalue: { type: 'x509Certificate', value: c.der.toString('base64') },
        })),
        endpoints: [],
      },
      documentOptions.overrides,
    );
  }

  async function serveMetadata(): Promise<MetadataServer> {
    let requests = 0;
    let response: { body: string | object | undefined; status: number } = { body: undefined, status: 200 };
    const app = express();
    app.use((_request, res) => {
      requests++;
      const { body, status } = response;
      if (typeof body === 'string') res.status(status).type('application/json').send(body);
      else res.status(status).json(body ?? metadataDocument());
    });
    const server: Server = await new Promise((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/metadata/json/1`,
      get requests() {
        return requests;
      },
      respondWith(body?: string | object, status = 200) {
        response = { body, status };
      },
      close: () =>
        new Promise<void>((resolve, reject) => {
          server.closeAllConnections();
          server.close((error) => (error ? reject(error) : resolve()));
        }),
    };
  }

  function actorClaims(audience: string, now: number, overrides?: Record<string, unknown>): Record<string, unknown> {
    return withOverrides(
      { aud: audience, iss: issuerId, nameid: issuerId, nbf: now, exp: now + 3600, iat: now, jti: randomBytes(16).toString('base64url') },
      overrides,
    );
  }

  function mint(claims: Record<string, unknown>, header?: Record<string, unknown>, key?: KeyObject): string {
    const fullHeader = withOverrides({ typ: 'JWT', alg: 'RS256', x5t: certificate.x5t, kid: certificate.x5t }, header);
    return compactJws(JSON.stringify(fullHeader), JSON.stringify(claims), { sign: 'rs256', key: key ?? certificate.privateKey });
  }

  function mintRaw(headerJson: string, payloadJson: string, rawOptions: MintRawOptions = {}): string {
    const method = rawOptions.sign ?? 'rs256';
    const key = rawOptions.key ?? (method === 'rs256' ? certificate.privateKey : undefined);
    return compactJws(headerJson, payloadJson, { sign: method, ...(key === undefined ? {} : { key }) });
  }

  function mintUser(
    actorToken: string,
    claims: Record<string, unknown> = {},
    userOptions: { readonly sign?: 'rs256' | 'none'; readonly header?: Record<string, unknown>; readonly key?: KeyObject } = {},
  ): string {
    const actor = decodePayload(actorToken);
    const payload = withOverrides(
      {
        aud: actor['aud'],
        iss: actor['nameid'],
        nbf: actor['nbf'],
        exp: actor['exp'],
        nameid: `alice@${realm}`,
        nii: 'urn:office:idp:activedirectory',
        actortoken: actorToken,
      },
      claims,
    );
    if (userOptions.sign === 'none') {
      return compactJws(JSON.stringify(withOverrides({ typ: 'JWT', alg: 'none' }, userOptions.header)), JSON.stringify(payload), { sign: 'none' });
    }
    return mint(payload, userOptions.header, userOptions.key);
  }

  return {
    principal,
    realm,
    identity,
    issuerId,
    get certificate() {
      return certificate;
    },
    rollTo(next: OAuthCertificate) {
      certificate = next;
    },
    metadataDocument,
    serveMetadata,
    actorClaims,
    mint,
    mintRaw,
    mintUser,
  };
}
