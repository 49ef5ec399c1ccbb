/** Where the STS token endpoint of a realm sits under the router. */

/** The token endpoint's path under the router for `realm`. */
export function stsTokenPath(realm: string): string {
  return `/${realm}/tokens/OAuth/2`;
}
