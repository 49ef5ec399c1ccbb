/**
 * Which realm each user of a demo server belongs to, and so which partner applications may act
 * for them. A partner is trusted in one realm (its registration's `realm`), yet its user-context
 * tokens may name anyone: before acting for a user, a server must check that the user is one of
 * the partner's realm. That is the lesson of CVE-2025-55241, where Entra ID accepted the actor
 * tokens of an application of one tenant for users of every other tenant.
 *
 * A demo server serves one organization. Its realms are the organization's: on premises the
 * primary realm and the extra SIP domains (`contoso.com`, `fabrikam.com`), online the tenant (a
 * GUID); a server that trusts an authorization server (cloud, hybrid) also serves the STS's tenant.
 */

/** Options of {@link Organization}. */
export interface OrganizationRealms {
  /**
   * The realms the server serves as its own, the primary realm first: the SIP domains of an
   * on-premises deployment, or the tenant of an online one.
   */
  readonly realms: readonly string[];
  /**
   * The tenant realm of the authorization server (STS) the server trusts, in the cloud and hybrid
   * scenarios; absent on premises.
   */
  readonly tenant?: string | undefined;
}

/** One organization's realms and the rule that ties each user to one of them. */
export class Organization {
  /** The primary realm: the realm of every user whose address domain is not a realm of its own. */
  readonly primaryRealm: string;
  /** Every realm of {@link OrganizationRealms.realms}, primary first. */
  readonly realms: readonly string[];
  /** The STS tenant, if any. */
  readonly tenant: string | undefined;
  readonly #realms: ReadonlySet<string>;

  /** @throws TypeError when `realms` is empty. */
  constructor(options: OrganizationRealms) {
    const primary = options.realms[0];
    if (primary === undefined) throw new TypeError('Organization: options.realms must name the primary realm first.');
    this.primaryRealm = primary;
    this.realms = [...options.realms];
    this.tenant = options.tenant;
    this.#realms = new Set(options.realms);
  }

  /**
   * The realm of the user with this address (`alice@contoso.com`, `sip:` allowed): its domain when
   * that domain is one of the organization's realms (`bob@fabrikam.com` is fabrikam.com's when the
   * server serves fabrikam.com), else the primary realm. So on premises each SIP domain is a realm
   * of its own users, and online, where the realm is a tenant GUID that no address names, every
   * user is the tenant's.
   */
  realmOf(address: string): string {
    const at = address.lastIndexOf('@');
    const domain = address.slice(at + 1).toLowerCase();
    return at > 0 && this.#realms.has(domain) ? domain : this.primaryRealm;
  }

  /**
   * Whether a partner registered in `partnerRealm` may act for the user with this address: the
   * partner's realm is the user's realm ({@link realmOf}), or it is the STS tenant, which holds
   * every user of the organization (a hybrid deployment synchronizes its on-premises directory to
   * the tenant, as Entra ID tenants hold the users of all their verified domains). A partner of
   * any other realm the server serves is refused, whatever user its token names.
   */
  mayActFor(partnerRealm: string, address: string): boolean {
    return partnerRealm === this.realmOf(address) || (this.tenant !== undefined && partnerRealm === this.tenant);
  }
}
