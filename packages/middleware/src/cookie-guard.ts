/**
 * Protocol.md 3.3 step 8: a response to a bearer-authenticated request never sets a cookie,
 * whoever tries to set it and whenever (`res.cookie`, `setHeader`, `appendHeader`, `writeHead`
 * arguments, or a session middleware that adds its cookie while the headers are written).
 *
 * For a node:http response (every Express response), the guard is the last step before the
 * headers reach the wire: `ServerResponse.prototype.writeHead`, through which Node writes every
 * response's headers (`end()`, `write()` and `flushHeaders()` call it too), is wrapped once per
 * process, and for a response marked by {@link refuseCookies} it removes `Set-Cookie` from the
 * response and from its own arguments before Node writes the head (`writeEarlyHints` and
 * `addTrailers`, which send headers of their own, are wrapped the same way). Being the innermost step, it
 * holds whatever runs before it: wrappers installed on the response before or after the guard,
 * mounted sub-applications (which replace an Express response's prototype), cookies set before
 * the middleware ran. Marking a response is one WeakSet insertion; unmarked responses pass
 * through unchanged (one WeakSet lookup per response).
 *
 * Any other response object (a test double, an HTTP/2 compatibility response) gets the guard as
 * its own `setHeader`, `appendHeader` and `writeHead` methods instead.
 */
import { ServerResponse, type OutgoingHttpHeaders } from 'node:http';

/** Responses whose headers must leave without `Set-Cookie`. */
const marked = new WeakSet<object>();

type HeaderMethod = (this: ServerResponse, ...args: unknown[]) => unknown;

let prototypeGuarded = false;

/**
 * Makes every `Set-Cookie` header of `res` disappear before the response is sent. Idempotent.
 * Internal: used by `s2sAuth` and `S2SBearerStrategy`, not exported from the package.
 */
export function refuseCookies(res: ServerResponse): void {
  if (res instanceof ServerResponse) {
    guardResponsePrototype();
    marked.add(res);
  } else {
    guardOwnMethods(res);
  }
}

/**
 * Wraps, once per process, the `ServerResponse.prototype` methods that send headers: `writeHead`
 * (every response's head), `writeEarlyHints` (a 103 response) and `addTrailers` (a chunked
 * trailer). `s2sAuth` and `S2SBearerStrategy` call this when they are created, before any request:
 * a session middleware mounted before them keeps the `writeHead` it finds on each response, and
 * that must already be the guarded one. Internal.
 */
export function guardResponsePrototype(): void {
  if (prototypeGuarded) return;
  prototypeGuarded = true;
  const prototype = ServerResponse.prototype as unknown as Record<'writeHead' | 'writeEarlyHints' | 'addTrailers', HeaderMethod>;
  // Node's methods, or whatever wrappers (an APM agent's) were in their place.
  const { writeHead, writeEarlyHints, addTrailers } = prototype;
  const define = (name: keyof typeof prototype, value: HeaderMethod): void => {
    Object.defineProperty(prototype, name, { configurable: true, writable: true, enumerable: false, value });
  };
  define('writeHead', function (this: ServerResponse, ...args: unknown[]): unknown {
    if (marked.has(this)) stripSetCookie(this, args);
    return Reflect.apply(writeHead, this, args);
  });
  define('writeEarlyHints', function (this: ServerResponse, ...args: unknown[]): unknown {
    if (marked.has(this)) args[0] = withoutSetCookie(args[0]);
    return Reflect.apply(writeEarlyHints, this, args);
  });
  define('addTrailers', function (this: ServerResponse, ...args: unknown[]): unknown {
    if (marked.has(this)) args[0] = withoutSetCookie(args[0]);
    return Reflect.apply(addTrailers, this, args);
  });
}

/** Removes `Set-Cookie` from the response's headers and from `writeHead` arguments (copied, never changed in place). */
function stripSetCookie(res: ServerResponse, args: unknown[]): void {
  res.removeHeader('set-cookie');
  for (let i = 0; i < args.length; i++) args[i] = withoutSetCookie(args[i]);
}

function isSetCookie(name: unknown): boolean {
  // The length first: only a 10-character name can lower-case to "set-cookie" (no other character
  // lower-cases to one of its ASCII characters), and most header names are not that long.
  return typeof name === 'string' && name.length === 10 && name.toLowerCase() === 'set-cookie';
}

/**
 * `argument` without `Set-Cookie` if it is a headers argument: an object, Node's flat
 * `[name, value, …]` array, or an array of `[name, value]` pairs (all three reach the wire).
 */
function withoutSetCookie(argument: unknown): unknown {
  if (typeof argument !== 'object' || argument === null) return argument;
  if (Array.isArray(argument)) {
    if (Array.isArray(argument[0])) return argument.filter((pair: unknown) => !(Array.isArray(pair) && isSetCookie(pair[0])));
    const kept: unknown[] = [];
    for (let i = 0; i < argument.length; i += 2) {
      if (!isSetCookie(argument[i])) kept.push(argument[i], argument[i + 1]);
    }
    return kept;
  }
  return Object.fromEntries(Object.entries(argument as OutgoingHttpHeaders).filter(([name]) => !isSetCookie(name)));
}

// ---------------------------------------------------------------------------------------------
// Responses that are not node:http's: the guard as the object's own methods.

/** A response's methods before the guard replaced them. */
interface OwnMethods {
  readonly setHeader: HeaderMethod;
  readonly appendHeader: HeaderMethod;
  readonly writeHead: HeaderMethod;
}

const ownOriginals = new WeakMap<object, OwnMethods>();

/**
 * All three methods are replaced: a wrapper installed before this one (express-session's, through
 * on-headers) runs inside the guarded `writeHead` and calls `this.setHeader`, so stripping in
 * `writeHead` alone would let its cookie through.
 */
function guardOwnMethods(res: ServerResponse): void {
  if (ownOriginals.has(res)) return;
  const methods = res as unknown as Record<keyof OwnMethods, HeaderMethod>;
  ownOriginals.set(res, { setHeader: methods.setHeader, appendHeader: methods.appendHeader, writeHead: methods.writeHead });
  methods.setHeader = guardedSetHeader;
  methods.appendHeader = guardedAppendHeader;
  methods.writeHead = guardedWriteHead;
}

/** The guarded object's original methods; Node's own if a guard is called on another object. */
function originalsOf(res: ServerResponse): OwnMethods {
  return ownOriginals.get(res) ?? (ServerResponse.prototype as unknown as OwnMethods);
}

function guardedSetHeader(this: ServerResponse, ...args: unknown[]): unknown {
  if (isSetCookie(args[0])) return this;
  return Reflect.apply(originalsOf(this).setHeader, this, args);
}

function guardedAppendHeader(this: ServerResponse, ...args: unknown[]): unknown {
  if (isSetCookie(args[0])) return this;
  return Reflect.apply(originalsOf(this).appendHeader, this, args);
}

function guardedWriteHead(this: ServerResponse, ...args: unknown[]): unknown {
  stripSetCookie(this, args);
  return Reflect.apply(originalsOf(this).writeHead, this, args);
}
