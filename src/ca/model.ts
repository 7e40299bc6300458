/** The records the CA keeps. Times are whole seconds since the epoch. */
import type { AgentName } from '../identity/agent-name.js';
import type { DnsName } from '../identity/dns-name.js';
import type { SpiffeId } from '../identity/spiffe-id.js';
import type { Duration } from '../time/duration.js';

export type AuthorityKind = 'root' | 'intermediate';

/**
 * Life of a signing key: prepared (published or ready, not yet used to sign),
 * active (signs), retired (no longer signs; kept while certificates it signed
 * may still be live). Transitions only move forward.
 */
export type AuthorityState = 'prepared' | 'active' | 'retired';

export interface AuthorityRecord {
  /** Hex key identifier (subjectKeyIdentifier) of the certificate. */
  readonly id: string;
  readonly kind: AuthorityKind;
  readonly state: AuthorityState;
  /** The authority that signed this one; null for a self-signed or upstream-issued certificate. */
  readonly parentId: string | null;
  readonly certDer: Buffer;
  /** Certificates from the authority up to (excluding) a root in the bundle, for an imported intermediate. */
  readonly upstreamChainDer: readonly Buffer[];
  readonly notBefore: number;
  readonly notAfter: number;
  /** Where key custody keeps the private key; null when meshca does not hold it (an upstream root). */
  readonly keyRef: string | null;
  readonly createdAt: number;
  readonly activatedAt: number | null;
  readonly retiredAt: number | null;
  /** Set when an operator tainted it: its parent's CRL then revokes it. */
  readonly taintedAt: number | null;
}

export type CertificateKind = 'workload' | 'agent' | 'admin' | 'server' | 'mint';

/** One issued certificate, as recorded before it is handed out. */
export interface IssuedCertificateRecord {
  /** Lowercase hex. */
  readonly serial: string;
  readonly spiffeId: string;
  readonly dnsNames: readonly string[];
  readonly notBefore: number;
  readonly notAfter: number;
  /** Hex SHA-256 of the SubjectPublicKeyInfo DER. */
  readonly publicKeySha256: string;
  readonly keyType: string;
  readonly issuerId: string;
  readonly kind: CertificateKind;
  /** Who asked, e.g. "agent:web-1", "operator:local". */
  readonly requestedBy: string;
  readonly agent: string | null;
  readonly entryId: string | null;
  readonly issuedAt: number;
  readonly certDer: Buffer;
}

/** A security-relevant event for the audit log; the store adds sequence, time and hashes. */
export interface AuditEvent {
  readonly type: string;
  /** Who caused it, e.g. "agent:web-1", "operator:alice", "meshca". */
  readonly actor: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** A join token, stored only as its SHA-256 hash. */
/** What spent a join token: an agent attesting with it, an operator revoking it, or its agent evicted or banned. */
export type TokenSpending = 'attestation' | 'revocation' | 'eviction' | 'ban';

export interface JoinTokenRecord {
  readonly hash: string;
  readonly agent: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly createdBy: string;
  /**
   * The serial of the admin credential a remote operator made it with: the
   * token admits no agent once that credential is revoked. Null for the
   * local operator's, and for tokens made before builds recorded it.
   */
  readonly creatorSerial: string | null;
  readonly usedAt: number | null;
  /** Unknown (absent) for tokens spent by builds that did not record it, and for unspent ones. */
  readonly spentBy?: TokenSpending;
}

/** active: may renew and fetch; evicted: must attest again with a new token; banned: may not attest until unbanned. */
export type AgentStatus = 'active' | 'evicted' | 'banned';

export interface AgentRecord {
  readonly name: string;
  readonly status: AgentStatus;
  readonly attestedAt: number;
  readonly lastSeen: number | null;
  /** Serial and expiry of the newest agent SVID. */
  readonly svidSerial: string | null;
  readonly svidNotAfter: number | null;
  readonly statusChangedAt: number;
}

/** A registration entry: grants one agent the right to obtain SVIDs for one SPIFFE ID. */
export interface EntryRecord {
  readonly id: string;
  readonly agent: AgentName;
  readonly spiffeId: SpiffeId;
  /** Lifetime of SVIDs for this entry; null means the CA default. */
  readonly ttl: Duration | null;
  readonly dnsNames: readonly DnsName[];
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Increases on every change, so agents can tell an entry changed. */
  readonly revision: number;
}
