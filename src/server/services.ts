/** What the HTTP layer needs from the rest of meshca; the composition root provides it. */
import type { JoinTokenService } from '../ca/join-token-service.js';
import type { AdminRenewal } from '../ca/admin-renewal.js';
import type { AgentService } from '../ca/agent-service.js';
import type { AuditService, AuditStorePort } from '../ca/audit-service.js';
import type { AuthoritySet } from '../ca/authority-set.js';
import type { AuthorityManager } from '../ca/authority-manager.js';
import type { CertificateCatalog, RevocationStore } from '../ca/certificate-query.js';
import type { RecordingHealth } from '../ca/recording-health.js';
import type { CsrVerifier } from '../ca/ports.js';
import type { CrlService } from '../ca/crl-service.js';
import type { RevocationService } from '../ca/revocation-service.js';
import type { EntryService } from '../ca/entry-service.js';
import type { SvidIssuer } from '../ca/svid-issuer.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import type { Clock } from '../time/clock.js';
import type { Duration } from '../time/duration.js';
import type { RateLimiter } from './rate-limiter.js';

export interface ServerServices {
  readonly trustDomain: TrustDomain;
  readonly clock: Clock;
  readonly authorities: { current(): AuthoritySet };
  readonly issuer: SvidIssuer;
  /** Where request CSRs are checked: signing workers, or this thread. */
  readonly csrVerifier: CsrVerifier;
  readonly bundleRefreshHint: Duration;
  readonly agents: AgentService;
  readonly adminRenewal: AdminRenewal;
  readonly tokens: JoinTokenService;
  readonly entries: EntryService;
  readonly catalog: CertificateCatalog;
  readonly audit: AuditService;
  readonly auditStore: AuditStorePort;
  readonly lifecycle: {
    readonly manager: AuthorityManager;
    /** How long a prepared root must be in the bundle before it may be activated. */
    readonly rootPropagation: Duration;
    /** Active agents with valid SVIDs that have not reached the CA since `since`, as of now (root activation's check). */
    agentsUnseenSince(since: number, now: number): Promise<readonly string[]>;
    /** Default horizon for root expiry in doctor. */
    readonly rootHorizon: Duration;
    lastRotationFailure(): { at: number; message: string } | undefined;
  };
  readonly revocations: RevocationService;
  readonly revocationStore: RevocationStore;
  readonly crls: CrlService;
  /** Resolves when the datastore answers (readiness): a replica cut off from PostgreSQL can sign nothing it may hand out. */
  datastoreReachable(): Promise<void>;
  /** Resolves once a small change commits: asked by readiness while the last issuance could not be recorded. */
  datastoreWritable(): Promise<void>;
  /** Whether the datastore took the last issuance. */
  readonly recording: RecordingHealth;
  readonly limits: {
    /** Per agent, in CSRs. */
    readonly signing: RateLimiter;
    /** Per remote address, in attempts. */
    readonly attestation: RateLimiter;
    /** Per admin credential holder ("auditor:bob"), in renewals. */
    readonly adminRenewal: RateLimiter;
    /** Most CSRs in one workload SVID request. */
    readonly maxBatch: number;
  };
}
