/**
 * The little of `oidc-provider` 8 (panva, plain JavaScript, no bundled types) that the interop
 * test and the STS benchmark use. Only what is called is declared; configuration objects are
 * passed through as oidc-provider documents them (lib/helpers/defaults.js).
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** An OAuth error oidc-provider turns into an RFC 6749 error response. */
  class OIDCProviderError extends Error {
    constructor(description?: string, detail?: string);
    readonly error: string;
    readonly status: number;
  }

  export const errors: {
    readonly InvalidTarget: typeof OIDCProviderError;
    readonly InvalidClient: typeof OIDCProviderError;
  };

  /** The token passed to `extraTokenClaims` and `formats.customizers.jwt`. */
  export interface IssuedToken {
    readonly clientId?: string;
    readonly scope?: string;
    readonly kind: string;
  }

  /** The structure a `formats.customizers.jwt` function may change before signing. */
  export interface StructuredToken {
    header: Record<string, unknown> | undefined;
    payload: Record<string, unknown>;
  }

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    readonly issuer: string;
    proxy: boolean;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }
}
