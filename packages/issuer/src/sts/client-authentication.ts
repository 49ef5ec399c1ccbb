/**
 * Client authentication at the STS token endpoint (step 4 of sts-router.ts): `client_id` is
 * `<principal>@<path realm>`; the assertion is a strict JWS with `typ` `client-authentication+jwt`
 * (checked before any client or key is looked up, so a malformed request never makes the STS fetch
 * anything); the client is registered and enabled; the key its `x5t` names is among the client's
 * pinned certificates, or else (metadata-URL clients only) among what `clientKeys` returns; and the
 * assertion verifies (client-assertion.ts). One `invalid_client` for every cause (no enumeration of
 * clients; an unknown client or an unknown key still costs an RSA verification).
 */
import { parseIssuerId, stsIssuerId, type SigningKey } from '@s2sauth/protocol';
import type { ClientRecord } from '@s2sauth/store';
import {
  ClientAssertionError,
  clientCertificateKeys,
  parseClientAssertion,
  verifyParsedClientAssertion,
  verifyRs256,
  type ParsedClientAssertion,
} from './client-assertion.js';
import { reject } from './sts-errors.js';
import type { StsContext } from './sts-router-options.js';

/** A client whose assertion verified (and whose `(iss, jti)` is now consumed). */
export interface AuthenticatedClient {
  /** The client's registration as it is after the verification. */
  readonly client: ClientRecord;
  /** The key the assertion verified with. */
  readonly key: SigningKey;
  /** The assertion's `jti`. */
  readonly jti: string;
  /** `client_id` as sent. */
  readonly clientId: string;
}

/** The public key an unknown client's assertion is checked against, so that it costs as much as a known one's. */
function standIn(context: StsContext): SigningKey['publicKey'] {
  return context.certificates.current.publicKey;
}

/**
 * Authenticates the client of a token request in `realm`.
 * @throws Rejection `invalid_client` with the precise reason.
 */
export async function authenticateClient(context: StsContext, realm: string, form: ReadonlyMap<string, string>): Promise<AuthenticatedClient> {
  const { clients, clientKeys, replay, clock } = context;
  const clientId = form.get('client_id') as string;
  const id = parseIssuerId(clientId);
  if (id === undefined) reject('invalid_client', 'client_id_malformed');
  const rejected = { clientId };
  if (id.realm !== realm) reject('invalid_client', 'client_id_realm', rejected);
  // Read the assertion before looking anything up: a request that is not even a well-formed
  // assertion learns nothing about the client and makes the STS fetch nothing.
  let parsed: ParsedClientAssertion;
  try {
    parsed = parseClientAssertion(form.get('client_assertion') as string);
  } catch (error) {
    if (error instanceof ClientAssertionError) reject('invalid_client', error.code, rejected);
    throw error;
  }
  const client = clients.getClient(id.principal, id.realm);
  if (client === undefined || !client.enabled) {
    // Spend the same work as for a registered client, then fail the same way.
    await verifyRs256(parsed.jws.signingInput, parsed.jws.signature, standIn(context));
    reject('invalid_client', client === undefined ? 'client_unknown' : 'client_disabled', rejected);
  }
  let keys: readonly SigningKey[] = clientCertificateKeys(client, clock());
  // Pinned certificates first; the metadata keys (an outbound fetch, cached by clientKeys) only
  // for a key id none of them has.
  if (client.metadataUrl !== undefined && clientKeys !== undefined && !keys.some((key) => key.x5t === parsed.keyId)) {
    try {
      keys = [...keys, ...(await clientKeys(client, parsed.keyId))];
    } catch {
      reject('invalid_client', 'client_keys_unavailable', rejected);
    }
  }
  let verifiedKey: SigningKey;
  let jti: string;
  try {
    const verified = await verifyParsedClientAssertion(parsed, {
      clientId,
      audience: stsIssuerId(realm),
      keys,
      replay,
      now: clock(),
      standInKey: standIn(context),
    });
    verifiedKey = verified.key;
    jti = verified.jti;
  } catch (error) {
    if (error instanceof ClientAssertionError) reject('invalid_client', error.code, rejected);
    throw error;
  }
  // The signature was checked on the thread pool: a client disabled, removed or changed
  // meanwhile is refused now, as it would have been a moment later.
  const current = clients.getClient(id.principal, id.realm);
  if (current === undefined || !current.enabled || current.updatedAt !== client.updatedAt) reject('invalid_client', 'client_changed', rejected);
  return { client: current, key: verifiedKey, jti, clientId };
}
