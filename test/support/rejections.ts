/**
 * Assertions on refusals shared by the middleware tests: a registry change refused with a given
 * code (and field), and a token the verifier rejects with a given code and audits exactly once.
 */
import { expect } from 'chai';
import { BearerError, type FailureCode } from '@s2sauth/protocol';
import { PartnerRegistryError, type AuditEvent, type Verifier } from '@s2sauth/middleware';

/** Awaits `action` and returns what it threw (undefined when it did not throw). */
async function thrownBy(action: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Expects a `PartnerRegistryError` with `code` (and `field`, when given) and returns it. */
export async function expectRefusal(action: Promise<unknown> | (() => unknown), code: string, field?: string): Promise<PartnerRegistryError> {
  const caught = await thrownBy(action);
  expect(caught, `expected ${code}`).to.be.instanceOf(PartnerRegistryError);
  const error = caught as PartnerRegistryError;
  expect(error.code, error.message).to.equal(code);
  if (field !== undefined) expect(error.field, error.message).to.equal(field);
  return error;
}

/**
 * Expects `verifier` to reject `token` with `code`, and exactly one new audit event in `events`
 * recording that rejection; returns the error.
 */
export async function expectRejection(verifier: Verifier, events: readonly AuditEvent[], token: string, code: FailureCode): Promise<BearerError> {
  const before = events.length;
  const caught = await thrownBy(verifier.verify(token));
  expect(caught, `expected ${code}`).to.be.instanceOf(BearerError);
  const error = caught as BearerError;
  expect(error.code, error.reason).to.equal(code);
  expect(events.length).to.equal(before + 1);
  expect(events.at(-1)).to.include({ decision: 'reject', code, status: error.status });
  return error;
}
