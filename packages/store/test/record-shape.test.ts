import { expect } from 'chai';
import { byIdentity, stringArray } from '../src/record-shape.js';

describe('record shape checks', () => {
  it('orders records by identity, code unit by code unit', () => {
    const records = [{ identity: 'b' }, { identity: 'B' }, { identity: 'a' }, { identity: '\u{1F600}' }, { identity: '\uFFFD' }];
    expect(records.sort(byIdentity).map((record) => record.identity)).to.deep.equal(['B', 'a', 'b', '\u{1F600}', '\uFFFD']);
    expect(byIdentity({ identity: 'same' }, { identity: 'same' })).to.equal(0);
  });

  it('copies and freezes a list of strings', () => {
    const input = ['a', 'b'];
    const copy = stringArray(input, 'scopes', 'test');
    input.push('c');
    expect(copy).to.deep.equal(['a', 'b']).and.be.frozen;
  });

  it('accepts an empty list unless told not to', () => {
    expect(stringArray([], 'scopes', 'test')).to.deep.equal([]);
    expect(() => stringArray([], 'certificates', 'test', true)).to.throw(
      TypeError,
      'test: certificates must be a non-empty array of non-empty strings',
    );
  });
});
