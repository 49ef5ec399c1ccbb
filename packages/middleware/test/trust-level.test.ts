import { expect } from 'chai';
import { describe, it } from 'mocha';
import { InvalidTokenError, type FailureCode } from '@s2sauth/protocol';
import type { TrustLevel } from '@s2sauth/store';
import { checkTrustLevel, type ActorIssuer } from '../src/trust-level.js';

type Row = readonly [level: string, userContext: boolean, issuer: ActorIssuer, delegation: unknown, outcome: FailureCode | 'accepted'];

// protocol.md section 5, one named row per case.
const TABLE: readonly Row[] = [
  ['full', false, 'self', undefined, 'accepted'],
  ['application', false, 'self', undefined, 'accepted'],
  ['user', false, 'self', undefined, 'trust_level'],
  ['user', false, 'sts', 'true', 'trust_level'],
  ['full', true, 'self', 'true', 'accepted'],
  ['full', true, 'sts', 'true', 'accepted'],
  ['full', true, 'self', undefined, 'delegation_not_allowed'],
  ['full', true, 'self', 'false', 'delegation_not_allowed'],
  ['full', true, 'self', 'True', 'delegation_not_allowed'],
  ['full', true, 'self', 'TRUE', 'delegation_not_allowed'],
  ['full', true, 'self', true, 'delegation_not_allowed'],
  ['full', true, 'self', ' true', 'delegation_not_allowed'],
  ['application', true, 'self', 'true', 'trust_level'],
  ['user', true, 'self', 'true', 'trust_level'],
  ['application', true, 'sts', 'true', 'accepted'],
  ['user', true, 'sts', 'true', 'accepted'],
  ['application', true, 'sts', 'false', 'delegation_not_allowed'],
  ['user', true, 'sts', undefined, 'delegation_not_allowed'],
  ['admin', false, 'self', undefined, 'trust_level'],
];

describe('checkTrustLevel', () => {
  for (const [level, userContext, issuer, delegation, outcome] of TABLE) {
    const call = `${userContext ? 'user-context' : 'app-only'} call, ${issuer === 'sts' ? 'STS-issued' : 'self-issued'} actor, trustedfordelegation ${JSON.stringify(delegation) ?? 'absent'}`;
    it(`${outcome === 'accepted' ? 'accepts' : `rejects with ${outcome}`} a ${call} from a ${level} partner`, () => {
      const check = (): void =>
        checkTrustLevel({ identity: 'p', trustLevel: level as TrustLevel }, { userContext, actorIssuer: issuer, trustedForDelegation: delegation });
      if (outcome === 'accepted') {
        expect(check).to.not.throw();
      } else {
        expect(check).to.throw(InvalidTokenError).with.property('code', outcome);
      }
    });
  }
});
