/**
 * The datastore as the composition root sees it: every port the CA declares,
 * from one engine. SQLite in the data directory is the embedded default;
 * PostgreSQL lets several replicas share one CA.
 */
import type { AuditStorePort } from '../ca/audit-service.js';
import type { CertificateCatalog, RevocationStore } from '../ca/certificate-query.js';
import type { AuditEvent } from '../ca/model.js';
import type { AuthorityJournal, Coordinator, IssuanceLedger, KeyCustody } from '../ca/ports.js';
import type { RegistrationStore } from '../ca/registration-ports.js';

export interface CertificateStore extends IssuanceLedger, CertificateCatalog, RevocationStore {
  countLive(now: number): Promise<number>;
  /** Deletes records of certificates that expired before `expiredBefore`, with the audit event, in one transaction. */
  pruneExpired(expiredBefore: number, event: (count: number) => AuditEvent): Promise<number>;
}

export interface AgentRegistry extends RegistrationStore {
  countAgentsByStatus(): Promise<Record<string, number>>;
}

export interface Datastore {
  readonly kind: 'sqlite' | 'postgres';
  /** True when this open created the datastore (it held no CA before). */
  readonly created: boolean;
  readonly authorities: AuthorityJournal;
  readonly certificates: CertificateStore;
  readonly registrations: AgentRegistry;
  readonly audit: AuditStorePort;
  /** Where CA private keys are kept: files in the data directory, or (encrypted) in the database. */
  readonly custody: KeyCustody;
  readonly coordinator: Coordinator;
  /** Resolves once the datastore answers a trivial query, rejects when it does not within a few seconds: readiness. */
  reachable(): Promise<void>;
  /** Resolves once a small change commits durably, rejects when it cannot: readiness after issuances failed to record. */
  writable(): Promise<void>;
  /** Whether an error it raised means it cannot take a change now (disk full, read-only, server gone), not that the change is wrong. */
  unavailable(err: unknown): boolean;
  close(): Promise<void>;
}
