/**
 * The `WWW-Authenticate: Bearer` challenge of protocol.md section 7 (RFC 6750 section 3), in the
 * shape Microsoft's servers use for realm discovery (MS-XOAUTH 3.2.5.4).
 */
import type { BearerErrorName } from './errors.js';

/** What a server says about itself in its challenge, plus the error when there is one. */
export interface ChallengeParams {
  /** The server's realm. Emitted first: TokenHelper-style clients look for the literal `Bearer realm="`. */
  readonly realm: string;
  /** The server's own principal id. */
  readonly clientId: string;
  /** Issuers this server accepts tokens from, `<principal>@<realm>` or `<principal>@*`. */
  readonly trustedIssuers: readonly string[];
  /** The STS token endpoint, when an OAuth server is configured. */
  readonly authorizationUri?: string;
  readonly error?: BearerErrorName;
  readonly errorDescription?: string;
  /** For `insufficient_scope`: the scope(s) needed, space-separated. */
  readonly scope?: string;
}

/** A quoted-string may hold any visible ASCII, space and tab (RFC 9110 section 5.6.4). */
const QUOTABLE = /^[\t\x20-\x7e]*$/;

/** Quotes a value as an RFC 9110 quoted-string; a value that cannot be quoted is a programming error. */
function quote(name: string, value: string): string {
  if (!QUOTABLE.test(value)) {
    throw new TypeError(`The challenge parameter ${name} contains a character that cannot be sent in a header.`);
  }
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Builds the challenge: `Bearer realm="…", client_id="…", trusted_issuers="…"[, …]`. */
export function buildChallenge(params: ChallengeParams): string {
  const parts: Array<[string, string | undefined]> = [
    ['realm', params.realm],
    ['client_id', params.clientId],
    ['trusted_issuers', params.trustedIssuers.join(',')],
    ['authorization_uri', params.authorizationUri],
    ['error', params.error],
    ['error_description', params.errorDescription],
    ['scope', params.scope],
  ];
  return `Bearer ${parts
    .filter((p): p is [string, string] => p[1] !== undefined)
    .map(([name, value]) => `${name}=${quote(name, value)}`)
    .join(', ')}`;
}

/** One challenge of a `WWW-Authenticate` header (RFC 9110 section 11.6.1). */
export interface Challenge {
  /** The auth-scheme, lower-cased (schemes are case-insensitive): `bearer`, `negotiate`, `basic`. */
  readonly scheme: string;
  /** Auth-params by lower-cased name, quoted-strings unescaped. The first of a repeated name wins. */
  readonly params: Readonly<Record<string, string>>;
  /** The token68 form (`Negotiate YII…`), when the challenge has one instead of params. */
  readonly token68?: string;
}

/** What a client learns from a server's Bearer challenge (realm discovery, protocol.md section 7). */
export interface BearerChallenge {
  readonly realm?: string;
  /** The server's principal id (`client_id`). */
  readonly clientId?: string;
  /**
   * The `trusted_issuers` entries as sent (split at commas, trimmed): usually
   * `<principal>@<realm|*>`, but servers also list URLs such as `https://sts.windows.net/*\/`, so
   * read them with `parseTrustedIssuer`.
   */
  readonly trustedIssuers: string[];
  readonly authorizationUri?: string;
  readonly error?: string;
  readonly errorDescription?: string;
  readonly scope?: string;
}

/**
 * Parses `WWW-Authenticate` header values into challenges, in order. Accepts what servers really
 * send (docs/protocol.md section 7): several values as an array or joined with commas,
 * `,` or `, ` separators, token68 and auth-param forms, quoted-strings with `\` escapes, unquoted
 * values, any case. Never throws: whatever cannot be read is skipped up to the next comma.
 */
export function parseChallenges(header: string | readonly string[]): Challenge[] {
  if (typeof header === 'string') return new ChallengeReader(header).readAll();
  if (!Array.isArray(header)) return [];
  return (header as readonly unknown[]).flatMap((value) => (typeof value === 'string' ? new ChallengeReader(value).readAll() : []));
}

/**
 * Reads the first Bearer challenge of a `WWW-Authenticate` header, or `undefined` when there is
 * none. `trustedissuers` (the spelling of MS-SPS2SAUTH's text) is read when `trusted_issuers` is
 * absent.
 */
export function readBearerChallenge(header: string | readonly string[]): BearerChallenge | undefined {
  const bearer = parseChallenges(header).find((challenge) => challenge.scheme === 'bearer');
  if (!bearer) return undefined;
  const p = bearer.params;
  const optional = (name: string): string | undefined => p[name];
  const trusted = optional('trusted_issuers') ?? optional('trustedissuers') ?? '';
  const result: { -readonly [K in keyof BearerChallenge]: BearerChallenge[K] } = {
    trustedIssuers: trusted
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ''),
  };
  const fields = [
    ['realm', 'realm'],
    ['clientId', 'client_id'],
    ['authorizationUri', 'authorization_uri'],
    ['error', 'error'],
    ['errorDescription', 'error_description'],
    ['scope', 'scope'],
  ] as const;
  for (const [field, name] of fields) {
    const value = optional(name);
    if (value !== undefined) result[field] = value;
  }
  return result;
}

/** `tchar` of RFC 9110 section 5.6.2. */
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;
/** token68 characters before the trailing `=` padding (RFC 9110 section 11.2). */
const TOKEN68_CHAR = /^[A-Za-z0-9\-._~+/]$/;

/**
 * A single-pass reader over one header value. Every step consumes at least one character or
 * returns, so garbage cannot make it loop, and nothing backtracks more than one token.
 */
class ChallengeReader {
  private i = 0;

  constructor(private readonly text: string) {}

  readAll(): Challenge[] {
    const challenges: Challenge[] = [];
    const text = this.text;
    while (this.skipSeparators() < text.length) {
      const scheme = this.readToken();
      if (scheme === '') {
        this.skipGarbage();
        continue;
      }
      const afterScheme = this.i;
      this.skipSpace();
      const params = new Map<string, string>();
      let token68: string | undefined;
      if (text[this.i] === ',') {
        // RFC 9110 list syntax allows empty elements inside `#auth-param`, and a param can never
        // start a new challenge, so params after commas still belong to this scheme.
        const comma = this.i;
        this.skipSeparators();
        if (this.paramAhead()) this.readParams(params);
        else this.i = comma;
      } else if (this.i < text.length) {
        if (this.i === afterScheme) {
          // Something glued to the scheme (`Bearer"x"`, or a param without a scheme): not a challenge.
          this.skipGarbage();
          continue;
        }
        token68 = this.readToken68();
        if (token68 === undefined) {
          const before = this.i;
          this.readParams(params);
          if (this.i === before) this.skipGarbage();
        }
      }
      challenges.push({
        scheme: scheme.toLowerCase(),
        // No prototype: a param named `constructor` or `__proto__` is just a param.
        params: Object.freeze(Object.assign(Object.create(null) as Record<string, string>, Object.fromEntries(params))),
        ...(token68 === undefined ? {} : { token68 }),
      });
    }
    return challenges;
  }

  /** Reads `name BWS = BWS value` pairs while the text ahead is one; stops before anything else. */
  private readParams(params: Map<string, string>): void {
    const text = this.text;
    while (this.paramAhead()) {
      const name = this.readToken().toLowerCase();
      this.skipSpace();
      this.i += 1; // '='
      this.skipSpace();
      const value = text[this.i] === '"' ? this.readQuoted() : this.readBare();
      if (value !== undefined && value !== '' && !params.has(name)) params.set(name, value);
      if (value === undefined) return;
      this.skipSpace();
      if (text[this.i] === ',') this.skipSeparators();
    }
  }

  /** True when a token followed by optional space and `=` starts here. */
  private paramAhead(): boolean {
    const start = this.i;
    const name = this.readToken();
    this.skipSpace();
    const ahead = name !== '' && this.text[this.i] === '=';
    this.i = start;
    return ahead;
  }

  /** A token68 that is the whole rest of the challenge (up to a comma or the end), else nothing. */
  private readToken68(): string | undefined {
    const text = this.text;
    const start = this.i;
    while (this.i < text.length && TOKEN68_CHAR.test(text.charAt(this.i))) this.i += 1;
    if (this.i > start) {
      while (text[this.i] === '=') this.i += 1;
      const end = this.i;
      this.skipSpace();
      if (this.i >= text.length || text[this.i] === ',') return text.slice(start, end);
    }
    this.i = start;
    return undefined;
  }

  /** A quoted-string, unescaped; `undefined` (and the rest consumed) when it is not closed. */
  private readQuoted(): string | undefined {
    const text = this.text;
    let value = '';
    let run = this.i + 1;
    for (let j = run; j < text.length; j += 1) {
      const c = text[j];
      if (c === '"') {
        this.i = j + 1;
        return value + text.slice(run, j);
      }
      if (c === '\\') {
        value += text.slice(run, j);
        j += 1;
        run = j;
      }
    }
    this.i = text.length;
    return undefined;
  }

  /** An unquoted value; lenient: anything up to a comma, space or quote. */
  private readBare(): string {
    const text = this.text;
    const start = this.i;
    while (this.i < text.length && !',"\t '.includes(text.charAt(this.i))) this.i += 1;
    return text.slice(start, this.i);
  }

  private readToken(): string {
    const text = this.text;
    const start = this.i;
    while (this.i < text.length && TCHAR.test(text.charAt(this.i))) this.i += 1;
    return text.slice(start, this.i);
  }

  private skipSpace(): void {
    while (this.text[this.i] === ' ' || this.text[this.i] === '\t') this.i += 1;
  }

  /** Skips commas and space between list elements; returns the new position. */
  private skipSeparators(): number {
    const text = this.text;
    while (this.i < text.length && (text[this.i] === ',' || text[this.i] === ' ' || text[this.i] === '\t')) this.i += 1;
    return this.i;
  }

  /** Skips at least one character, then up to the next comma outside a quoted-string. */
  private skipGarbage(): void {
    const text = this.text;
    if (text[this.i] !== '"') this.i += 1;
    while (this.i < text.length && text[this.i] !== ',') {
      if (text[this.i] === '"') {
        if (this.readQuoted() === undefined) return;
      } else {
        this.i += 1;
      }
    }
  }
}
