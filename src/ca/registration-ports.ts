/** Storage the registration side of the CA (tokens, agents, entries) needs. */
import type { RevocationReason } from '../x509/crl.js';
import type { AgentName } from '../identity/agent-name.js';
import type { JoinTokenId } from './join-tokens.js';
import type { AgentRecord, AgentStatus, AuditEvent, EntryRecord, IssuedCertificateRecord, JoinTokenRecord } from './model.js';

/** What the CA recorded about a certificate a client presents, to match against it. */
export interface CredentialRecord {
  /** The certificate as issued, DER. */
  readonly certificateDer: Buffer;
  /** Why the CA revoked it, or null while it stands. */
  readonly revocation: RevocationReason | null;
}

/** An agent's standing as one read sees it: the credential it presented, and its own status (undefined: not recorded). */
export interface AgentStanding {
  readonly credential: CredentialRecord | undefined;
  readonly agentStatus: AgentStatus | undefined;
}

/** What a client presented: its certificate's serial and the certificate itself, DER. */
export interface PresentedCredential {
  readonly serial: string;
  readonly certificateDer: Buffer;
}

export interface AttestationCommit {
  readonly tokenHash: string;
  readonly now: number;
  readonly agent: AgentRecord;
  readonly certificate: IssuedCertificateRecord;
  readonly events: readonly AuditEvent[];
}

/** Where a listing of outstanding tokens resumes: after this expiry and hash. */
export interface TokenPosition {
  readonly expiresAt: number;
  readonly hash: string;
}

/** Where a listing of entries resumes: after this entry, in the order of agent, SPIFFE ID and id (each bytewise). */
export interface EntryPosition {
  readonly agent: string;
  readonly spiffeId: string;
  readonly id: string;
}

/** A page of a listing: at most `limit` items, those after `after` (from the first when null). */
export interface PageSlice<Position> {
  readonly after: Position | null;
  readonly limit: number;
}

export interface RegistrationStore {
  createToken(token: JoinTokenRecord, event: AuditEvent): Promise<void>;
  findToken(hash: string): Promise<JoinTokenRecord | undefined>;
  /** A token whose hash starts with `id`; undefined when there is none. */
  findTokenById(id: JoinTokenId): Promise<JoinTokenRecord | undefined>;
  /**
   * The tokens that could still admit an agent at `now` (unused, unexpired),
   * by expiry then hash, after `after`; at most `limit`, and only `agent`'s
   * when it is given.
   */
  listOutstandingTokens(now: number, agent: AgentName | undefined, after: TokenPosition | null, limit: number): Promise<JoinTokenRecord[]>;
  /**
   * Spends the token and records its event in one transaction, unless it was
   * already used or voided, or has expired by `now`: false then, nothing
   * committed. Against an attestation with the same token, exactly one wins.
   */
  revokeToken(hash: string, now: number, event: AuditEvent): Promise<boolean>;
  /**
   * Consumes the token and records the agent and its SVID in one transaction,
   * revoking (superseded) the agent SVIDs still live under the agent's name:
   * a node given a new token replaces whatever held the name before.
   * Resolves false, committing nothing, when the token was already used or has
   * expired by `now`, or the admin credential that made it (its
   * creatorSerial) is revoked: exactly one of two concurrent attempts can win.
   */
  completeAttestation(commit: AttestationCommit): Promise<boolean>;
  /**
   * Records a renewed agent SVID and the agent's new current serial, unless
   * the agent is no longer active (ForbiddenError) or the SVID the renewal
   * presented was revoked meanwhile (UnauthenticatedError certificate_revoked,
   * as a new token under the agent's name supersedes it), in one transaction.
   */
  recordAgentRenewal(name: string, presentedSerial: string, certificate: IssuedCertificateRecord, event: AuditEvent): Promise<void>;

  getAgent(name: string): Promise<AgentRecord | undefined>;
  /** In the bytewise order of their names; every agent without a slice. */
  listAgents(slice?: PageSlice<string>): Promise<AgentRecord[]>;
  /**
   * Changes status; to any but active, also spends the agent's unused join
   * tokens, so that it comes back only with one made after this; with
   * `revokeCertificates`, also revokes every live certificate issued to or
   * through the agent and, when that revoked any, appends their
   * `certificates.revoked` event (agentRevocationEvent, by the status event's
   * actor). All in one transaction: an attestation commits before it (and is
   * undone by it) or after it (and finds no token).
   *
   * With `onlyFrom`, the status the caller read (null: no record of the
   * name), nothing is done, and false returned, unless the agent still has
   * it: a ban and an eviction that race must not both pass their checks and
   * leave whichever committed last.
   */
  setAgentStatus(name: string, status: AgentStatus, at: number, event: AuditEvent, revokeCertificates: boolean, onlyFrom?: AgentStatus | null): Promise<boolean>;
  touchAgents(lastSeen: ReadonlyMap<string, number>): Promise<void>;

  createEntry(entry: EntryRecord, event: AuditEvent): Promise<void>;
  updateEntry(entry: EntryRecord, event: AuditEvent): Promise<void>;
  /** Deletes the entry with its event; NotFoundError, nothing recorded, when there is none (another caller's delete came first). */
  deleteEntry(id: string, event: AuditEvent): Promise<void>;
  getEntry(id: string): Promise<EntryRecord | undefined>;
  /** In the order of EntryPosition; every matching entry without a slice. */
  listEntries(filter: { agent?: string }, slice?: PageSlice<EntryPosition>): Promise<EntryRecord[]>;

  /**
   * What the CA recorded of a certificate it issued, for per-request
   * authentication; undefined when it never issued that serial.
   */
  credential(serial: string): Promise<CredentialRecord | undefined>;
  /**
   * credential(serial) and the agent's status, in one read: an agent's
   * every request asks both, twice (as it arrives, and once what it was
   * issued is recorded), and each read costs a statement or a round trip.
   */
  agentStanding(serial: string, agent: string): Promise<AgentStanding>;
}
