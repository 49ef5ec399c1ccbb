import { expect } from 'chai';
import { ApiError } from '../src/api-error.js';
import { ADDRESS, readArray, readDateTime, readObject, readOptionalString, readString, refuseUnknownMembers } from '../src/request-body.js';

/** The 400 message `read` throws. */
function refusal(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    expect(error).to.be.instanceOf(ApiError);
    expect(error).to.include({ status: 400, code: 'invalid_request' });
    return (error as ApiError).message;
  }
  throw new Error('expected a 400');
}

describe('request body readers', () => {
  it('reads a plain object and refuses anything else, saying what was expected', () => {
    expect(readObject({ a: 1 }, 'The request body', '{ a }')).to.deep.equal({ a: 1 });
    for (const value of [undefined, null, [], 'x', 1]) {
      expect(refusal(() => readObject(value, 'messages[2]', '{ from, text }'))).to.equal('messages[2] must be a JSON object: { from, text }.');
    }
  });

  it('refuses members it does not know, naming the first', () => {
    expect(() => refuseUnknownMembers({ a: 1, b: 2 }, ['a', 'b'], 'The contact')).not.to.throw();
    expect(refusal(() => refuseUnknownMembers({ a: 1, admin: true }, ['a'], 'The contact'))).to.equal('The contact has an unknown member "admin"; the members are a.');
  });

  const strings: [string, unknown, Parameters<typeof readString>[2], string][] = [
    ['a number', 5, { max: 10 }, 'name must be a string.'],
    ['an empty string', '', { max: 10 }, 'name must not be empty.'],
    ['a string too long', 'x'.repeat(11), { max: 10 }, 'name must be at most 10 characters.'],
    ['a C0 control character', 'a\u0000', { max: 10 }, 'name must not contain control characters.'],
    ['a C1 control character', 'a\u0085', { max: 10 }, 'name must not contain control characters.'],
    ['a line break outside multiline text', 'a\nb', { max: 10 }, 'name must not contain control characters.'],
    ['a string off the pattern', 'nobody', { max: 10, pattern: ADDRESS }, 'name must be an address like alice@contoso.com.'],
  ];
  for (const [what, value, rule, message] of strings) {
    it(`refuses ${what} as a string member`, () => {
      expect(refusal(() => readString(value, 'name', rule))).to.equal(message);
    });
  }

  it('returns a valid string as it is, empty or multiline when the rule allows', () => {
    expect(readString(' a@b ', 'name', { max: 10 })).to.equal(' a@b ');
    expect(readString('', 'name', { max: 10, allowEmpty: true })).to.equal('');
    expect(readString('a\r\n\tb', 'name', { max: 10, multiline: true })).to.equal('a\r\n\tb');
    expect(readOptionalString(null, 'name', { max: 10 })).to.equal(undefined);
    expect(readOptionalString(undefined, 'name', { max: 10 })).to.equal(undefined);
    expect(readOptionalString('a', 'name', { max: 10 })).to.equal('a');
  });

  it('reads an array within its bounds', () => {
    expect(readArray([1, 2], 'list', 1, 2)).to.deep.equal([1, 2]);
    expect(refusal(() => readArray('x', 'list', 0, 2))).to.equal('list must be an array.');
    expect(refusal(() => readArray([], 'list', 1, 2))).to.equal('list must have 1 to 2 elements.');
    expect(refusal(() => readArray([1, 2, 3], 'list', 1, 2))).to.equal('list must have 1 to 2 elements.');
  });

  it('reads an RFC 3339 date-time that is a real instant, as sent, or one of another format', () => {
    expect(readDateTime('2024-05-01T10:00:00+02:00', 'at')).to.equal('2024-05-01T10:00:00+02:00');
    expect(refusal(() => readDateTime('2024-05-01T25:00:00Z', 'at'))).to.equal('at must be an RFC 3339 date-time like 2024-05-01T10:00:00Z.');
    expect(refusal(() => readDateTime('yesterday', 'at'))).to.equal('at must be an RFC 3339 date-time like 2024-05-01T10:00:00Z.');
    const minutes = { test: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z$/, description: 'a UTC time to the minute' };
    expect(readDateTime('2024-05-01T10:00Z', 'at', minutes)).to.equal('2024-05-01T10:00Z');
    expect(refusal(() => readDateTime('2024-05-01T10:00:00Z', 'at', minutes))).to.equal('at must be a UTC time to the minute.');
  });
});
