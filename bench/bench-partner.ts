/**
 * The partner application the middleware benchmarks verify tokens of, and this server's side of
 * the trust: one RS256 2048-bit certificate for the whole `npm run bench` process, a pool of
 * distinct tokens minted by the real `TokenIssuer`, and a verifier over a registry that learned
 * the partner's key from its metadata document (the Lync case), auditing to `/dev/null`.
 *
 * Minting costs one RSA private-key operation per token, so the pool is minted once per process,
 * before anything is timed, and shared: benchmarks that need N distinct tokens take the first N.
 * Each benchmark has its own verifier, so a token verified (and cached) by one is still new to
 * the next.
 */
import { pino } from 'pino';
import type { KeyObject } from 'node:crypto';
import { TokenIssuer } from '@s2sauth/issuer';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { MemoryStore } from '@s2sauth/store';
import { auditDestination, createVerifier, PartnerRegistry, pinoAuditSink, type AuditSink, type Verifier } from '@s2sauth/middleware';
import { createPartner, type TestPartner } from '@s2sauth/test-support/partners';

/** The realm of the partner and of this server. */
export const REALM = 'contoso.com';
/** This server's principal: Exchange, called by Lync. */
export const OWN_PRINCIPAL: string = WellKnownPrincipal.exchange;
/** The authority the tokens are addressed to (the verifier does not compare it with the Host header). */
export const AUTHORITY = 'mail.contoso.com';
/** The `aud` of every benchmark token. */
export const AUDIENCE = `${OWN_PRINCIPAL}/${AUTHORITY}@${REALM}`;
/** The partner's registration identity. */
export const PARTNER_IDENTITY = 'microsoft.lync';
/** Scopes granted to the partner and requested by its tokens. */
export const SCOPES: readonly string[] = ['contacts.read', 'calendar.read'];

/** The benchmark partner (Lync) and its tokens. */
export interface BenchPartner {
  readonly partner: TestPartner;
  /** The public key of the signing certificate, for raw `crypto.verify`. */
  readonly publicKey: KeyObject;
  /** The RSA key size of the signing certificate. */
  readonly keySize: number;
  /** The first `count` tokens of the shared pool (minted on first need), all distinct. */
  tokens(count: number): readonly string[];
  /** A token outside the pool. */
  mintOne(): string;
}

let shared: Promise<BenchPartner> | undefined;

/** The process-wide benchmark partner (created on first call). */
export function benchPartner(): Promise<BenchPartner> {
  shared ??= createBenchPartner();
  return shared;
}

async function createBenchPartner(): Promise<BenchPartner> {
  const partner = await createPartner({ principal: WellKnownPrincipal.lync, identity: PARTNER_IDENTITY, realm: REALM });
  const issuer = new TokenIssuer({ principal: partner.principal, realm: REALM, certificates: partner.certificate });
  const mintOne = (): string => issuer.issueAppOnly({ audience: AUDIENCE, scopes: SCOPES }).token;
  const pool: string[] = [];
  return {
    partner,
    publicKey: partner.certificate.publicKey,
    keySize: partner.certificate.keySize,
    tokens(count) {
      while (pool.length < count) pool.push(mintOne());
      return pool.slice(0, count);
    },
    mintOne,
  };
}

/**
 * The real pino audit sink with the product's default destination (buffered, `auditDestination`),
 * pointed at `/dev/null`: its cost is measured as users get it, its output discarded.
 */
export function nullAuditSink(): AuditSink {
  return pinoAuditSink(pino({ name: 's2sauth-audit' }, auditDestination({ dest: '/dev/null' })));
}

/** A verifier and what to close after it. */
export interface BenchVerifier {
  readonly verifier: Verifier;
  close(): void;
}

/**
 * This server's verifier, trusting the benchmark partner through its metadata document at
 * `metadataUrl` (fetched once here; the key set refreshes hourly, far beyond a benchmark), with
 * the default verification cache and `audit`.
 */
export async function openBenchVerifier(metadataUrl: string, audit: AuditSink): Promise<BenchVerifier> {
  const store = new MemoryStore();
  const registry = new PartnerRegistry({ store });
  await registry.add({ identity: PARTNER_IDENTITY, metadataUrl, allowLoopback: true, scopes: SCOPES });
  const verifier = createVerifier({ principal: OWN_PRINCIPAL, realms: REALM, authorities: [AUTHORITY], registry, audit });
  return {
    verifier,
    close() {
      verifier.close();
      registry.close();
      store.close();
    },
  };
}
