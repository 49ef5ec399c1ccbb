/**
 * Strict JSON (RFC 8259) for token headers and payloads (protocol.md section 3.3 step 2).
 *
 * `JSON.parse` is not strict enough for a security decision: it keeps the last of two members with
 * the same name (so two readers of one token can see different claims), turns `1e400` into
 * `Infinity`, accepts unpaired surrogate escapes, and a member named `__proto__` handled carelessly
 * afterwards can change an object's prototype. This parser is a small linear-time recursive
 * descent with a fixed depth cap, so no input can make it slow or exhaust the stack.
 */
import { InvalidTokenError } from './errors.js';

/** The deepest nesting of arrays and objects accepted; a JWS header or claim set needs a few levels. */
export const MAX_JSON_DEPTH = 32;

/** A JSON object as this parser builds it: no prototype, so no member is ever inherited. */
type JsonObject = Record<string, unknown>;

const ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    this.skipWhitespace();
    const value = this.parseValue(0);
    this.skipWhitespace();
    if (this.pos !== this.text.length) this.fail('trailing content after the JSON value');
    return value;
  }

  private fail(what: string, at = this.pos): never {
    throw new InvalidTokenError('token_json', `invalid JSON: ${what} at offset ${at}`);
  }

  private skipWhitespace(): void {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      // RFC 8259 section 2: only these four; a BOM or NBSP is not whitespace.
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.pos++;
    }
  }

  private parseValue(depth: number): unknown {
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x7b /* { */:
        return this.parseObject(depth + 1);
      case 0x5b /* [ */:
        return this.parseArray(depth + 1);
      case 0x22 /* " */:
        return this.parseString();
      case 0x74 /* t */:
        return this.parseLiteral('true', true);
      case 0x66 /* f */:
        return this.parseLiteral('false', false);
      case 0x6e /* n */:
        return this.parseLiteral('null', null);
      default:
        if (c === 0x2d || isDigit(c)) return this.parseNumber();
        return this.fail(Number.isNaN(c) ? 'unexpected end of input' : 'unexpected character');
    }
  }

  private enter(depth: number): void {
    if (depth > MAX_JSON_DEPTH) this.fail(`nesting deeper than ${MAX_JSON_DEPTH} levels`);
    this.pos++; // the opening bracket
    this.skipWhitespace();
  }

  private parseObject(depth: number): JsonObject {
    this.enter(depth);
    const result: JsonObject = Object.create(null) as JsonObject;
    if (this.text.charCodeAt(this.pos) === 0x7d /* } */) {
      this.pos++;
      return result;
    }
    for (;;) {
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('expected a member name');
      const nameAt = this.pos;
      const name = this.parseString();
      // Compared after unescaping: {"a":1,"\u0061":2} names one member twice. `result` has no
      // prototype, so `in` sees own members only.
      if (name in result) {
        throw new InvalidTokenError('token_duplicate_member', `invalid JSON: duplicate member name at offset ${nameAt}`);
      }
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos) !== 0x3a /* : */) this.fail("expected ':'");
      this.pos++;
      this.skipWhitespace();
      const value = this.parseValue(depth);
      // `result` has no prototype, so there is no inherited `__proto__` accessor: assigning
      // "__proto__" stores an ordinary own member (enumerable, writable, configurable), exactly
      // as defineProperty would, at a fraction of the cost.
      result[name] = value;
      this.skipWhitespace();
      const next = this.text.charCodeAt(this.pos);
      this.pos++;
      if (next === 0x7d /* } */) return result;
      if (next !== 0x2c /* , */) this.fail("expected ',' or '}'", this.pos - 1);
      this.skipWhitespace();
    }
  }

  private parseArray(depth: number): unknown[] {
    this.enter(depth);
    const result: unknown[] = [];
    if (this.text.charCodeAt(this.pos) === 0x5d /* ] */) {
      this.pos++;
      return result;
    }
    for (;;) {
      result.push(this.parseValue(depth));
      this.skipWhitespace();
      const next = this.text.charCodeAt(this.pos);
      this.pos++;
      if (next === 0x5d /* ] */) return result;
      if (next !== 0x2c /* , */) this.fail("expected ',' or ']'", this.pos - 1);
      this.skipWhitespace();
    }
  }

  private parseLiteral<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('unexpected character');
    this.pos += word.length;
    return value;
  }

  private parseNumber(): number {
    const text = this.text;
    const start = this.pos;
    if (text.charCodeAt(this.pos) === 0x2d /* - */) this.pos++;
    if (text.charCodeAt(this.pos) === 0x30 /* 0 */) {
      this.pos++;
      if (isDigit(text.charCodeAt(this.pos))) this.fail('number with a leading zero', start);
    } else {
      this.digits();
    }
    if (text.charCodeAt(this.pos) === 0x2e /* . */) {
      this.pos++;
      this.digits();
    }
    const e = text.charCodeAt(this.pos);
    if (e === 0x65 || e === 0x45 /* e E */) {
      this.pos++;
      const sign = text.charCodeAt(this.pos);
      if (sign === 0x2b || sign === 0x2d /* + - */) this.pos++;
      this.digits();
    }
    const value = Number(text.slice(start, this.pos));
    if (!Number.isFinite(value)) this.fail('number out of the range of a double', start);
    return value;
  }

  /** One or more decimal digits. */
  private digits(): void {
    if (!isDigit(this.text.charCodeAt(this.pos))) this.fail('expected a digit');
    do this.pos++;
    while (isDigit(this.text.charCodeAt(this.pos)));
  }

  private parseString(): string {
    const text = this.text;
    this.pos++; // opening quote
    let result = '';
    let runStart = this.pos;
    for (;;) {
      if (this.pos >= text.length) this.fail('unterminated string');
      const c = text.charCodeAt(this.pos);
      if (c === 0x22 /* " */) {
        result += text.slice(runStart, this.pos);
        this.pos++;
        return result;
      }
      if (c < 0x20) this.fail('control character in a string');
      if (c === 0x5c /* \ */) {
        result += text.slice(runStart, this.pos);
        result += this.parseEscape();
        runStart = this.pos;
        continue;
      }
      if (isHighSurrogate(c)) {
        // A raw surrogate half is possible only in text that did not come from valid UTF-8.
        if (!isLowSurrogate(text.charCodeAt(this.pos + 1))) this.fail('unpaired surrogate in a string');
        this.pos += 2;
        continue;
      }
      if (isLowSurrogate(c)) this.fail('unpaired surrogate in a string');
      this.pos++;
    }
  }

  /** An escape sequence starting at the backslash; a `\u` high surrogate must be followed by a `\u` low one. */
  private parseEscape(): string {
    const text = this.text;
    const start = this.pos;
    const kind = text.charAt(this.pos + 1);
    if (kind !== 'u') {
      const simple = ESCAPES[kind];
      if (simple === undefined) this.fail('invalid escape sequence', start);
      this.pos += 2;
      return simple;
    }
    const code = this.hex4(this.pos + 2);
    this.pos += 6;
    if (isLowSurrogate(code)) this.fail('unpaired surrogate escape', start);
    if (!isHighSurrogate(code)) return String.fromCharCode(code);
    const low = text.startsWith('\\u', this.pos) ? this.hex4(this.pos + 2) : -1;
    if (!isLowSurrogate(low)) this.fail('unpaired surrogate escape', start);
    this.pos += 6;
    return String.fromCharCode(code, low);
  }

  private hex4(at: number): number {
    let code = 0;
    for (let i = at; i < at + 4; i++) {
      const c = this.text.charCodeAt(i);
      let digit: number;
      if (isDigit(c)) digit = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) digit = c - 0x57; // a-f
      else if (c >= 0x41 && c <= 0x46) digit = c - 0x37; // A-F
      else return this.fail('invalid \\u escape', at - 2);
      code = code * 16 + digit;
    }
    return code;
  }
}

/**
 * Parses RFC 8259 JSON text strictly, for token headers and payloads.
 *
 * Beyond `JSON.parse` it rejects: a member name that occurs twice in one object (compared after
 * unescaping), a number that is not a finite double (`1e400`), an unpaired surrogate (escaped or
 * raw), nesting deeper than {@link MAX_JSON_DEPTH}. Like RFC 8259 it also rejects a byte order
 * mark, leading zeros, control characters in strings, and anything after the value. Objects are
 * built without a prototype, so a member named `__proto__` is an ordinary own member and no member
 * is inherited (`toString`, `constructor` read as `undefined`).
 *
 * @throws InvalidTokenError `token_duplicate_member` for a repeated member name, `token_json` for
 * everything else; the reason gives the problem and its offset, never the text.
 */
export function parseStrictJson(text: string): unknown {
  return new Parser(text).parseDocument();
}
