/**
 * The STS token endpoint's handler (protocol.md section 6): reads the request (token-request.ts),
 * authenticates the client (client-authentication.ts), checks the target and the grant (step 5 of
 * sts-router.ts), issues one STS actor token (sts-token.ts), and answers every outcome, audited.
 */
import { formatAudience, parseAudience } from '@s2sauth/protocol';
import type { NextFunction, Request, Response } from 'express';
import { authenticateClient } from './client-authentication.js';
import { hostNameMatches } from './host-name-pattern.js';
import { ERROR_STATUS, reject, Rejection, sendError, sendNoStoreJson } from './sts-errors.js';
import type { StsAuditEvent, StsContext } from './sts-router-options.js';
import type { StsTokenSigner } from './sts-token.js';
import { BodyAlreadyReadError, readTokenRequest } from './token-request.js';

/** A token issued: the RFC 6749 section 5.1 body and the audit event. */
interface Issued {
  readonly body: Record<string, unknown>;
  readonly event: Omit<StsAuditEvent, 'status'>;
}

/** The Express handler of `POST /<realm>/tokens/OAuth/2`. */
export function tokenEndpoint(context: StsContext, realm: string) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const { body, event } = await issueToken(context, realm, req);
      context.record({ ...event, status: 200 });
      sendNoStoreJson(res, 200, body);
    } catch (error) {
      if (error instanceof Rejection) {
        const status = ERROR_STATUS[error.error];
        if (!req.complete) res.set('Connection', 'close');
        context.record({ decision: 'reject', error: error.error, reason: error.reason, realm, ...error.context, status });
        sendError(res, error.error);
      } else if (error instanceof BodyAlreadyReadError) {
        next(error);
      } else if (typeof error === 'object' && error !== null && (error as { status?: unknown }).status === 503) {
        // A store that says it is unavailable for now (its error has status 503, e.g. a full disk):
        // 503 temporarily_unavailable (RFC 6749 section 4.1.2.1's code), nothing was issued.
        context.record({ decision: 'reject', error: 'temporarily_unavailable', reason: 'store_unavailable', realm, status: 503 });
        sendError(res, 'temporarily_unavailable');
      } else {
        // A certificate that cannot sign, a store that fails: nothing was issued.
        context.record({ decision: 'reject', error: 'server_error', reason: 'internal_error', realm, status: 500 });
        sendError(res, 'server_error');
      }
    }
  };
}

/**
 * Steps 1 to 5 of a token request in `realm`, then the token.
 * @throws Rejection; BodyAlreadyReadError; what the stores or the signer throw.
 */
async function issueToken(context: StsContext, realm: string, req: Request): Promise<Issued> {
  const { form, resource: resourceText, delegation, scopes: requested } = await readTokenRequest(req);
  const { client, key, jti, clientId } = await authenticateClient(context, realm, form);
  const rejected = { clientId, assertionId: jti, delegation };

  const audience = parseAudience(resourceText);
  if (audience === undefined) reject('invalid_target', 'resource_malformed', rejected);
  if (audience.realm !== realm) reject('invalid_target', 'resource_realm', rejected);
  const resource = formatAudience(audience);
  const target = context.clients.getClient(audience.principal, audience.realm);
  if (target === undefined || !target.enabled) reject('invalid_target', 'resource_unknown', { ...rejected, resource });
  if (!target.hostNames.some((pattern) => hostNameMatches(pattern, audience.authority))) {
    reject('invalid_target', 'host_not_registered', { ...rejected, resource });
  }
  const grant = client.grants.find((candidate) => candidate.resource === audience.principal);
  if (grant === undefined) reject('unauthorized_client', 'no_grant', { ...rejected, resource });
  const scopes = requested ?? [...grant.scopes];
  if (!scopes.every((scope) => grant.scopes.includes(scope))) reject('invalid_scope', 'scope_not_granted', { ...rejected, resource });
  if (delegation && !grant.delegation) reject('unauthorized_client', 'delegation_not_granted', { ...rejected, resource });

  const signer = context.signers.get(realm) as StsTokenSigner;
  const issued = await signer.issue({
    audience: resource,
    clientId,
    scopes,
    ...(delegation ? { delegation: { x5tS256: key.x5tS256 } } : {}),
  });
  return {
    body: {
      token_type: 'Bearer',
      access_token: issued.token,
      expires_in: issued.expiresOn - issued.notBefore,
      not_before: issued.notBefore,
      expires_on: issued.expiresOn,
      resource,
      scope: scopes.join(' '),
    },
    event: { decision: 'issue', reason: 'issued', realm, clientId, resource, scopes, delegation, assertionId: jti, tokenId: issued.jti },
  };
}
