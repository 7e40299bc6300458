/** What auditors ask of the certificate records: filters, pages, and identities. */
import type { AgentName } from '../identity/agent-name.js';
import type { SpiffeId } from '../identity/spiffe-id.js';
import type { RevocationReason, RevokedEntry } from '../x509/crl.js';
import type { AuditEvent, CertificateKind } from './model.js';

/** Every field narrows the result; all times are seconds since the epoch. */
export interface CertificateFilter {
  readonly spiffeId?: SpiffeId;
  /** IDs equal to this one or under it (its path followed by "/"). */
  readonly under?: SpiffeId;
  readonly agent?: AgentName;
  /** Valid at this moment: notBefore <= t <= notAfter (RFC 5280's validity period includes both ends), and not revoked by then (a revocation after it does not count). */
  readonly activeAt?: number;
  readonly issuedAfter?: number;
  readonly issuedBefore?: number;
  readonly serial?: string;
  readonly revoked?: boolean;
}

export interface CertificateSummary {
  readonly serial: string;
  readonly spiffeId: string;
  readonly dnsNames: readonly string[];
  readonly notBefore: number;
  readonly notAfter: number;
  readonly issuedAt: number;
  readonly kind: CertificateKind;
  readonly requestedBy: string;
  readonly agent: string | null;
  readonly entryId: string | null;
  readonly keyType: string;
  readonly publicKeySha256: string;
  readonly issuerId: string;
  readonly revokedAt: number | null;
  readonly revocationReason: string | null;
}

/**
 * A page of certificates in issuance order. The cursor is the position after
 * the last item; records issued while a client pages arrive after it, so a walk
 * never skips or repeats one.
 */
export interface CertificatePage {
  readonly items: readonly CertificateSummary[];
  readonly nextCursor: string | null;
}

export interface IdentitySummary {
  readonly spiffeId: string;
  readonly firstIssuedAt: number;
  readonly lastIssuedAt: number;
  readonly certificates: number;
  /** Unexpired and not revoked at the time asked. */
  readonly live: number;
  /** Still granted: by an entry, or an agent/admin identity in good standing. */
  readonly registered: boolean;
}

/**
 * A page of identities in bytewise order of their SPIFFE IDs. The cursor is the
 * last ID listed: an identity first issued while a client pages appears if it
 * sorts after the cursor, and no identity is listed twice.
 */
export interface IdentityPage {
  readonly items: readonly IdentitySummary[];
  readonly nextCursor: string | null;
}

export interface CertificateCatalog {
  listCertificates(filter: CertificateFilter, cursor: string | null, limit: number): Promise<CertificatePage>;
  /** Counts are as of `now`; `under` narrows to IDs equal to it or below its path. */
  listIdentities(now: number, under: SpiffeId | undefined, cursor: string | null, limit: number): Promise<IdentityPage>;
}


/** Which live certificates a revocation applies to. */
export type RevocationSelector =
  | { readonly serial: string }
  | { readonly spiffeId: SpiffeId }
  | { readonly agent: AgentName }
  /** Everything an authority issued; agents' own SVIDs are kept when `exceptAgentSvids` (they are matched to records on every use). */
  | { readonly issuerId: string; readonly exceptAgentSvids?: boolean };

/** Revocation lists, read together with the number they go out under. */
export interface NumberedRevocations {
  readonly crlNumber: number;
  /** The revocation count before the lists were read: they hold at least these. */
  readonly revocations: number;
  /** Per issuer id, its revoked unexpired certificates, oldest record first. */
  readonly lists: ReadonlyMap<string, RevokedEntry[]>;
}

/** The serials a revocation revoked, in the order they were issued. */
export type RevokedSerials = readonly string[];

export interface RevocationStore {
  /**
   * Marks every matching unexpired, unrevoked certificate revoked, with its
   * audit event, in one transaction. An event of undefined records nothing:
   * an automatic sweep that found nothing to revoke is no event.
   */
  revoke(selector: RevocationSelector, at: number, reason: RevocationReason, event: (count: number) => AuditEvent | undefined): Promise<RevokedSerials>;
  /**
   * Draws the next CRL number, then reads each issuer's revoked certificates
   * that have not expired yet (what its CRL lists), in one transaction.
   * Agents take the higher number for the later list, so a list must hold
   * every revocation that one numbered lower holds: drawing the number first
   * and holding it until the lists are read orders the reads as the numbers.
   * `lockWaitMs`: at most this long for a write lock another connection
   * holds (the embedded datastore's; PostgreSQL's engine waits as its own
   * settings say), when the caller has something to serve instead; the
   * datastore's usual wait when absent.
   */
  numberedRevocations(issuerIds: readonly string[], now: number, lockWaitMs?: number): Promise<NumberedRevocations>;
  /** Grows with every revocation committed by any process sharing the datastore. */
  revocationCount(): Promise<number>;
  /** Unexpired, unrevoked certificates (other than the CA's own serving ones) issued by any of these authorities. */
  liveUnder(issuerIds: readonly string[], now: number): Promise<number>;
}
