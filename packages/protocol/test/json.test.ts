import { expect } from 'chai';
import { InvalidTokenError, MAX_JSON_DEPTH, parseStrictJson } from '../src/index.js';

function nested(levels: number, open = '[', close = ']', inner = '1'): string {
  return `${open.repeat(levels)}${inner}${close.repeat(levels)}`;
}

function nestedObjects(levels: number): string {
  return `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;
}

function thrown(text: string): InvalidTokenError {
  try {
    parseStrictJson(text);
  } catch (error) {
    expect(error).to.be.instanceOf(InvalidTokenError);
    return error as InvalidTokenError;
  }
  throw new Error('parseStrictJson did not throw');
}

describe('json', () => {
  describe('parseStrictJson accepts RFC 8259 JSON', () => {
    const rows: readonly { name: string; text: string; value: unknown }[] = [
      { name: 'an empty object', text: '{}', value: {} },
      { name: 'an empty array', text: '[]', value: [] },
      { name: 'whitespace of all four kinds around values', text: ' \t\r\n{ "a" : [ 1 , 2 ] }\n', value: { a: [1, 2] } },
      { name: 'the three literals', text: '[true,false,null]', value: [true, false, null] },
      { name: 'a top-level string', text: '"x"', value: 'x' },
      { name: 'a top-level number', text: '42', value: 42 },
      { name: 'zero', text: '0', value: 0 },
      { name: 'a negative fraction with an exponent', text: '-1.25e-2', value: -0.0125 },
      { name: 'an upper-case exponent with a plus sign', text: '1E+2', value: 100 },
      { name: 'the largest finite double', text: '1.7976931348623157e308', value: Number.MAX_VALUE },
      { name: 'a ten-digit NumericDate', text: '{"exp":9999999999}', value: { exp: 9999999999 } },
      { name: 'every simple escape', text: '"\\"\\\\\\/\\b\\f\\n\\r\\t"', value: '"\\/\b\f\n\r\t' },
      { name: 'a \\u escape in either case', text: '"\\u00e9\\u00C9"', value: 'éÉ' },
      { name: 'a surrogate pair as two escapes', text: '"\\ud83d\\ude00"', value: '😀' },
      { name: 'a raw astral character', text: '"😀"', value: '😀' },
      { name: 'raw non-ASCII text', text: '{"nameid":"Zoë"}', value: { nameid: 'Zoë' } },
      { name: 'an escaped quote inside a member name', text: '{"a\\"b":1}', value: { 'a"b': 1 } },
      { name: 'the same member name in two different objects', text: '{"a":{"x":1},"b":{"x":2}}', value: { a: { x: 1 }, b: { x: 2 } } },
      { name: `arrays nested ${MAX_JSON_DEPTH} levels deep`, text: nested(MAX_JSON_DEPTH), value: JSON.parse(nested(MAX_JSON_DEPTH)) },
      { name: `objects nested ${MAX_JSON_DEPTH} levels deep`, text: nestedObjects(MAX_JSON_DEPTH), value: JSON.parse(nestedObjects(MAX_JSON_DEPTH)) },
    ];
    for (const row of rows) {
      it(`parses ${row.name}`, () => {
        expect(parseStrictJson(row.text)).to.deep.equal(row.value);
      });
    }

    it('keeps -0 as the number it is (RFC 8259 allows it; claims.ts reads it as 0)', () => {
      expect(Object.is(parseStrictJson('-0'), -0)).to.equal(true);
    });

    it('parses a long array in one pass', () => {
      const text = `[${Array.from({ length: 100_000 }, (_, i) => i).join(',')}]`;
      const value = parseStrictJson(text) as number[];
      expect(value).to.have.length(100_000);
      expect(value[99_999]).to.equal(99_999);
    });
  });

  describe('parseStrictJson builds objects that cannot be confused with their prototype', () => {
    it('stores a member named __proto__ as an ordinary own member', () => {
      const value = parseStrictJson('{"__proto__":{"isAdmin":true},"a":1}') as Record<string, unknown>;
      expect(Object.getPrototypeOf(value)).to.equal(null);
      expect(Object.keys(value)).to.deep.equal(['__proto__', 'a']);
      expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).to.deep.equal({ isAdmin: true });
      expect(value['isAdmin']).to.equal(undefined);
      expect(({} as Record<string, unknown>)['isAdmin']).to.equal(undefined);
    });

    it('stores an escaped __proto__ name the same way', () => {
      const value = parseStrictJson('{"\\u005f_proto__":[]}') as Record<string, unknown>;
      expect(Object.getPrototypeOf(value)).to.equal(null);
      expect(Object.hasOwn(value, '__proto__')).to.equal(true);
    });

    it('stores every member as a plain data property, __proto__ included', () => {
      const value = parseStrictJson('{"__proto__":null,"b":[1],"constructor":"x"}') as Record<string, unknown>;
      for (const name of ['__proto__', 'b', 'constructor']) {
        expect(Object.getOwnPropertyDescriptor(value, name), name).to.include({ enumerable: true, writable: true, configurable: true });
      }
      expect(Object.getPrototypeOf(value)).to.equal(null);
    });

    it('inherits nothing: toString and constructor read as undefined', () => {
      const value = parseStrictJson('{}') as Record<string, unknown>;
      expect(value['toString']).to.equal(undefined);
      expect(value['constructor']).to.equal(undefined);
    });

    it('serializes back to the same members with JSON.stringify', () => {
      expect(JSON.stringify(parseStrictJson('{"__proto__":1,"b":[{"c":null}]}'))).to.equal('{"__proto__":1,"b":[{"c":null}]}');
    });
  });

  describe('parseStrictJson rejects duplicate member names with token_duplicate_member', () => {
    const rows: readonly { name: string; text: string }[] = [
      { name: 'the same name twice', text: '{"alg":"none","alg":"RS256"}' },
      { name: 'names equal only after unescaping', text: '{"a":1,"\\u0061":2}' },
      { name: 'names equal after unescaping a surrogate pair', text: '{"😀":1,"\\ud83d\\ude00":2}' },
      { name: 'names equal after unescaping a solidus', text: '{"a/b":1,"a\\/b":2}' },
      { name: 'a duplicate in a nested object', text: '{"cnf":{"x5t#S256":"a","x5t#S256":"b"}}' },
      { name: 'a duplicate inside an array element', text: '[{"k":1,"k":1}]' },
      { name: '__proto__ twice', text: '{"__proto__":1,"__proto__":2}' },
      { name: 'the empty name twice', text: '{"":1,"":2}' },
    ];
    for (const row of rows) {
      it(`rejects ${row.name}`, () => {
        const error = thrown(row.text);
        expect(error.code).to.equal('token_duplicate_member');
        expect(error.reason).to.match(/duplicate member name at offset \d+/);
      });
    }
  });

  describe('parseStrictJson rejects everything else that is not strict JSON with token_json', () => {
    const rows: readonly { name: string; text: string }[] = [
      { name: 'empty text', text: '' },
      { name: 'whitespace only', text: ' \n' },
      { name: 'a byte order mark before the value', text: '\ufeff{}' },
      { name: 'a no-break space as whitespace', text: '\u00a0{}' },
      { name: 'a vertical tab as whitespace', text: '\u000b{}' },
      { name: 'a second value after the first', text: '{} {}' },
      { name: 'trailing garbage', text: '{"a":1}x' },
      { name: 'a trailing comma in an object', text: '{"a":1,}' },
      { name: 'a trailing comma in an array', text: '[1,]' },
      { name: 'an empty element in an array', text: '[1,,2]' },
      { name: 'a leading comma in an array', text: '[,1]' },
      { name: 'a single-quoted string', text: "{'a':1}" },
      { name: 'an unquoted member name', text: '{a:1}' },
      { name: 'a number as a member name', text: '{1:1}' },
      { name: 'a missing colon', text: '{"a" 1}' },
      { name: 'a missing comma between members', text: '{"a":1 "b":2}' },
      { name: 'a missing comma between elements', text: '[1 2]' },
      { name: 'an unterminated object', text: '{"a":1' },
      { name: 'an unterminated array', text: '[1' },
      { name: 'an object that ends after a colon', text: '{"a":' },
      { name: 'an unterminated string', text: '"abc' },
      { name: 'a string that ends inside an escape', text: '"\\' },
      { name: 'a line comment', text: '{} // x' },
      { name: 'a block comment', text: '/* x */ {}' },
      { name: 'a leading zero', text: '01' },
      { name: 'a negative leading zero', text: '-01' },
      { name: 'a lone minus', text: '-' },
      { name: 'a plus sign', text: '+1' },
      { name: 'a fraction without an integer part', text: '.5' },
      { name: 'a fraction without digits', text: '1.' },
      { name: 'an exponent without digits', text: '1e' },
      { name: 'a signed exponent without digits', text: '1e+' },
      { name: 'a hexadecimal number', text: '0x10' },
      { name: 'NaN', text: 'NaN' },
      { name: 'Infinity', text: 'Infinity' },
      { name: 'a number that overflows to Infinity (1e400)', text: '{"exp":1e400}' },
      { name: 'a number that overflows to -Infinity (-1e400)', text: '[-1e400]' },
      { name: 'a long integer beyond the double range', text: `1${'0'.repeat(400)}` },
      { name: 'a truncated literal', text: 'tru' },
      { name: 'a capitalized literal', text: 'True' },
      { name: 'null misspelled', text: 'nul' },
      { name: 'undefined', text: 'undefined' },
      { name: 'a raw line feed in a string', text: '"a\nb"' },
      { name: 'a raw tab in a string', text: '"a\tb"' },
      { name: 'a raw NUL in a string', text: '"a\u0000b"' },
      { name: 'an unknown escape', text: '"\\x41"' },
      { name: 'an escaped single quote', text: '"\\\'"' },
      { name: 'a short \\u escape', text: '"\\u12"' },
      { name: 'a \\u escape with a non-hex digit', text: '"\\u12G4"' },
      { name: 'an unpaired high surrogate escape', text: '"\\ud800"' },
      { name: 'an unpaired low surrogate escape', text: '"\\udc00"' },
      { name: 'a high surrogate escape followed by another character', text: '"\\ud800x"' },
      { name: 'a high surrogate escape followed by a non-surrogate escape', text: '"\\ud800\\u0041"' },
      { name: 'two high surrogate escapes', text: '"\\ud800\\ud800"' },
      { name: 'a high surrogate escape followed by a raw low surrogate', text: '"\\ud800\udc00"' },
      { name: 'a raw lone high surrogate', text: '"\ud800"' },
      { name: 'a raw lone low surrogate', text: '"\udc00"' },
      { name: 'a raw high surrogate followed by a low surrogate escape', text: '"\ud800\\udc00"' },
      { name: 'an unpaired surrogate in a member name', text: '{"\\ud800":1}' },
      { name: `arrays nested ${MAX_JSON_DEPTH + 1} levels deep`, text: nested(MAX_JSON_DEPTH + 1) },
      { name: `objects nested ${MAX_JSON_DEPTH + 1} levels deep`, text: nestedObjects(MAX_JSON_DEPTH + 1) },
      { name: 'arrays and objects mixed 33 levels deep', text: `${'[{"a":'.repeat(17)}1${'}]'.repeat(17)}` },
      { name: 'a hundred thousand opening brackets', text: '['.repeat(100_000) },
    ];
    for (const row of rows) {
      it(`rejects ${row.name}`, () => {
        const error = thrown(row.text);
        expect(error.code).to.equal('token_json');
        expect(error.reason).to.match(/^invalid JSON: .+ at offset \d+$/);
      });
    }
  });

  describe('parseStrictJson reasons', () => {
    it('say what was wrong and where, without the text', () => {
      const error = thrown('{"secret-value":1e400}');
      expect(error.reason).to.equal('invalid JSON: number out of the range of a double at offset 16');
      expect(error.reason).not.to.contain('secret-value');
    });

    it('name the depth cap', () => {
      expect(thrown(nested(33)).reason).to.contain('nesting deeper than 32 levels');
    });

    it('say when a surrogate is unpaired', () => {
      expect(thrown('"\\ud800"').reason).to.contain('unpaired surrogate escape');
    });

    it('are the fixed sentence of the malformed class as the message', () => {
      const error = thrown('[');
      expect(error.status).to.equal(401);
      expect(error.error).to.equal('invalid_token');
      expect(error.message).to.equal('The access token is malformed.');
    });
  });
});
