/**
 * The one check and message style for option objects given to s2sauth's constructors and factories
 * (`createVerifier`, `s2sAuth`, `TokenIssuer`, `S2SClient`, `StsTokenSource`, `stsRouter`, ...): a
 * misspelt safety option must be a start-up `TypeError`, never a silently kept default.
 */

/**
 * Lists the option names a constructor accepts, checked by the compiler: every key of `T` must be
 * listed, and nothing else may be.
 *
 * ```ts
 * const NAMES = optionNames<TokenIssuerOptions>({ principal: true, realm: true, certificates: true });
 * ```
 */
export function optionNames<T>(names: { readonly [K in keyof Required<T>]: true }): ReadonlySet<string> {
  return new Set(Object.keys(names));
}

/**
 * Throws a `TypeError` naming every option of `options` that is not in `known`, in the message
 * style every s2sauth constructor shares:
 * `<where>: unknown option "<name>"; the options are <a>, <b>, <c>.`
 *
 * @param where the constructor or factory, as a user writes it (`createVerifier`, `new S2SClient`).
 * @param options the options object as given (only its own enumerable string keys are read).
 * @param known the accepted names, usually from {@link optionNames}.
 * @param hint an optional sentence appended to the message (for instance, that verification
 * cannot be turned off).
 * @throws TypeError when `options` has a name not in `known`.
 */
export function refuseUnknownOptions(where: string, options: object, known: ReadonlySet<string>, hint?: string): void {
  const unknown = Object.keys(options).filter((name) => !known.has(name));
  if (unknown.length === 0) return;
  const names = unknown.map((name) => `"${name}"`).join(', ');
  const message = `${where}: unknown option${unknown.length > 1 ? 's' : ''} ${names}; the options are ${[...known].join(', ')}.`;
  throw new TypeError(hint === undefined ? message : `${message} ${hint}`);
}
