/** Join tokens, agents and registration entries in SQLite. */
import type { AgentRecord, AgentStatus, AuditEvent, EntryRecord, IssuedCertificateRecord, JoinTokenRecord } from '../../ca/model.js';
import { lastHashOf, type JoinTokenId } from '../../ca/join-tokens.js';
import type { AgentStanding, AttestationCommit, CredentialRecord, EntryPosition, PageSlice, RegistrationStore, TokenPosition } from '../../ca/registration-ports.js';
import type { AgentName } from '../../identity/agent-name.js';
import { nowSeconds, type Clock } from '../../time/clock.js';
import type { AuditAppender } from './audit-appender.js';
import { prepareCertificateInsert, type CertificateInsert } from './certificate-rows.js';
import { type Db, statements } from './database.js';
import type { WriteQueue } from './write-queue.js';
import { agentNotActive, presentedRevoked } from '../../ca/client-standing.js';
import { AGENT_REVOCATION_REASON, agentRevocationEvent, supersededAgentSvidEvent } from '../../ca/revocation-service.js';
import {
  AGENT_STANDING, COUNT_REVOCATION, CREDENTIAL, IS_REVOKED, SUPERSEDE, SUPERSEDED_AGENT_SVIDS, toAgentStanding, toCredential, UNEXPIRED_AT, type AgentStandingRow, type CredentialRow,
} from '../certificate-sql.js';
import type { RevocationReason } from '../../x509/crl.js';
import {
  AgentStatusMoved, agentStatusWrite, duplicateEntry, entryChanged, entryGone, entryParams, outstandingTokensQuery, SPEND_TOKEN, SPEND_TOKEN_TO_ADMIT, TOKEN_BY_ID, toAgent, toEntry, toToken, VOID_AGENT_TOKENS, VOIDED_BY,
  type AgentRow, type EntryRow, type TokenRow,
} from '../rows.js';

export class SqliteRegistrationStore implements RegistrationStore {
  private readonly sql: ReturnType<typeof statements>;
  private readonly insertCertificate: CertificateInsert;

  constructor(
    db: Db,
    private readonly writes: WriteQueue,
    private readonly audit: AuditAppender,
    private readonly clock: Clock,
  ) {
    this.sql = statements(db);
    this.insertCertificate = prepareCertificateInsert(db);
  }

  private inTransaction(events: readonly AuditEvent[], work: () => void): Promise<void> {
    return this.writes.write(() => {
      work();
      const at = nowSeconds(this.clock);
      for (const e of events) this.audit.append(e, at);
    });
  }

  async createToken(t: JoinTokenRecord, event: AuditEvent): Promise<void> {
    await this.inTransaction([event], () => {
      this.sql
        ('INSERT INTO join_tokens (hash, agent, created_at, expires_at, created_by, creator_serial, used_at) VALUES (?, ?, ?, ?, ?, ?, NULL)')
        .run(t.hash, t.agent, t.createdAt, t.expiresAt, t.createdBy, t.creatorSerial);
    });
  }

  async findToken(hash: string): Promise<JoinTokenRecord | undefined> {
    const row = this.sql<[string], TokenRow>('SELECT * FROM join_tokens WHERE hash = ?').get(hash);
    return row && toToken(row);
  }

  async findTokenById(id: JoinTokenId): Promise<JoinTokenRecord | undefined> {
    const row = this.sql<[string, string], TokenRow>(TOKEN_BY_ID).get(id, lastHashOf(id));
    return row && toToken(row);
  }

  async listOutstandingTokens(now: number, agent: AgentName | undefined, after: TokenPosition | null, limit: number): Promise<JoinTokenRecord[]> {
    const { sql, params } = outstandingTokensQuery(now, agent, after, limit);
    return this.sql<unknown[], TokenRow>(sql).all(...params).map(toToken);
  }

  async revokeToken(hash: string, now: number, event: AuditEvent): Promise<boolean> {
    return this.writes.write(() => {
      const { changes } = this.sql(SPEND_TOKEN).run(now, 'revocation', hash, now);
      if (changes !== 1) return false;
      this.audit.append(event, now);
      return true;
    });
  }

  async completeAttestation(c: AttestationCommit): Promise<boolean> {
    return this.writes.write(() => {
      // The conditional update is the single-use guarantee: only one transaction can flip used_at.
      const spent = this.sql(SPEND_TOKEN_TO_ADMIT).run(c.now, 'attestation', c.tokenHash, c.now);
      if (spent.changes !== 1) return false;
      const superseded = this.sql<[string, number], { serial: string }>(SUPERSEDED_AGENT_SVIDS('?', '?')).all(c.agent.name, c.now);
      this.upsertAgent(c.agent);
      this.insertCertificate(c.certificate);
      for (const e of c.events) this.audit.append(e, c.now);
      for (const { serial } of superseded) {
        this.sql(SUPERSEDE('?', '?')).run(c.now, serial);
        this.audit.append(supersededAgentSvidEvent(serial, c.agent.name, c.now), c.now);
      }
      if (superseded.length > 0) this.sql(COUNT_REVOCATION).run();
      return true;
    });
  }

  async recordAgentRenewal(name: string, presentedSerial: string, certificate: IssuedCertificateRecord, event: AuditEvent): Promise<void> {
    await this.inTransaction([event], () => {
      const { changes } = this.sql
        ("UPDATE agents SET svid_serial = ?, svid_not_after = ?, last_seen = ? WHERE name = ? AND status = 'active'")
        .run(certificate.serial, certificate.notAfter, certificate.issuedAt, name);
      if (changes === 0) throw agentNotActive(name, this.sql<[string], { status: AgentStatus }>('SELECT status FROM agents WHERE name = ?').get(name)?.status);
      const revoked = this.sql<[string], { reason: RevocationReason | null }>(IS_REVOKED('?')).get(presentedSerial);
      if (revoked) throw presentedRevoked(revoked.reason);
      this.insertCertificate(certificate);
    });
  }

  async getAgent(name: string): Promise<AgentRecord | undefined> {
    const row = this.sql<[string], AgentRow>('SELECT * FROM agents WHERE name = ?').get(name);
    return row && toAgent(row);
  }

  async listAgents(slice?: PageSlice<string>): Promise<AgentRecord[]> {
    if (!slice) return this.sql<[], AgentRow>('SELECT * FROM agents ORDER BY name').all().map(toAgent);
    return this.sql<[string, number], AgentRow>('SELECT * FROM agents WHERE name > ? ORDER BY name LIMIT ?').all(slice.after ?? '', slice.limit).map(toAgent);
  }

  async setAgentStatus(name: string, status: AgentStatus, at: number, event: AuditEvent, revoke: boolean, onlyFrom?: AgentStatus | null): Promise<boolean> {
    // Appended after the work, so the revocation's event can join the status change's.
    const events = [event];
    try {
      await this.inTransaction(events, () => this.writeStatus(name, status, at, events, revoke, onlyFrom));
    } catch (err) {
      if (err instanceof AgentStatusMoved) return false;
      throw err;
    }
    return true;
  }

  /** setAgentStatus's work; `events` holds the status event, and gets the revocation's. */
  private writeStatus(name: string, status: AgentStatus, at: number, events: AuditEvent[], revoke: boolean, onlyFrom: AgentStatus | null | undefined): void {
    const write = agentStatusWrite(name, status, at, onlyFrom);
    const { changes: written } = this.sql(write.sql).run(...write.params);
    if (written === 0) throw new AgentStatusMoved();
    if (status !== 'active') this.sql(VOID_AGENT_TOKENS).run(at, VOIDED_BY[status], name);
    if (revoke) {
      const { changes } = this.sql
        (`UPDATE certificates SET revoked_at = ?, revocation_reason = ?
                  WHERE agent = ? AND revoked_at IS NULL AND ${UNEXPIRED_AT('?')}`)
        .run(at, AGENT_REVOCATION_REASON, name, at);
      this.sql(COUNT_REVOCATION).run();
      if (changes > 0) events.push(agentRevocationEvent(name, events[0]!.actor, changes, at));
    }
  }

  async touchAgents(lastSeen: ReadonlyMap<string, number>): Promise<void> {
    const update = this.sql('UPDATE agents SET last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE name = ?');
    await this.writes.write(() => {
      for (const [name, at] of lastSeen) update.run(at, name);
    });
  }

  async createEntry(entry: EntryRecord, event: AuditEvent): Promise<void> {
    await this.inTransaction([event], () => {
      uniqueEntry(entry, () =>
        this.sql
          (`INSERT INTO entries (id, agent, spiffe_id, ttl, dns_names, created_at, updated_at, revision)
                    VALUES (@id, @agent, @spiffeId, @ttl, @dnsNames, @createdAt, @updatedAt, @revision)`)
          .run(entryParams(entry)),
      );
    });
  }

  async updateEntry(entry: EntryRecord, event: AuditEvent): Promise<void> {
    await this.inTransaction([event], () => {
      // Only over the revision it was read at: of two concurrent updates, the second is refused, not lost.
      const { changes } = uniqueEntry(entry, () =>
        this.sql
          (`UPDATE entries SET agent = @agent, spiffe_id = @spiffeId, ttl = @ttl, dns_names = @dnsNames,
                    updated_at = @updatedAt, revision = @revision WHERE id = @id AND revision = @revision - 1`)
          .run(entryParams(entry)),
      );
      if (changes === 0) throw this.sql('SELECT 1 FROM entries WHERE id = ?').get(entry.id) ? entryChanged(entry.id) : entryGone(entry.id);
    });
  }

  async deleteEntry(id: string, event: AuditEvent): Promise<void> {
    await this.inTransaction([event], () => {
      if (this.sql('DELETE FROM entries WHERE id = ?').run(id).changes === 0) throw entryGone(id);
    });
  }

  async getEntry(id: string): Promise<EntryRecord | undefined> {
    const row = this.sql<[string], EntryRow>('SELECT * FROM entries WHERE id = ?').get(id);
    return row && toEntry(row);
  }

  async listEntries(filter: { agent?: string }, slice?: PageSlice<EntryPosition>): Promise<EntryRecord[]> {
    if (slice) {
      const { agent, spiffeId, id } = slice.after ?? { agent: '', spiffeId: '', id: '' };
      return this.sql<[string | null, string | null, string, string, string, number], EntryRow>(
        `SELECT * FROM entries WHERE (? IS NULL OR agent = ?) AND (agent, spiffe_id, id) > (?, ?, ?) ORDER BY agent, spiffe_id, id LIMIT ?`,
      ).all(filter.agent ?? null, filter.agent ?? null, agent, spiffeId, id, slice.limit).map(toEntry);
    }
    const rows = filter.agent
      ? this.sql<[string], EntryRow>('SELECT * FROM entries WHERE agent = ? ORDER BY spiffe_id, id').all(filter.agent)
      : this.sql<[], EntryRow>('SELECT * FROM entries ORDER BY agent, spiffe_id, id').all();
    return rows.map(toEntry);
  }

  async countAgentsByStatus(): Promise<Record<string, number>> {
    const rows = this.sql<[], { status: string; n: number }>('SELECT status, COUNT(*) AS n FROM agents GROUP BY status').all();
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  async credential(serial: string): Promise<CredentialRecord | undefined> {
    const row = this.sql<[string], CredentialRow>(CREDENTIAL('?')).get(serial);
    return row && toCredential(row);
  }

  async agentStanding(serial: string, agent: string): Promise<AgentStanding> {
    return toAgentStanding(this.sql<[string, string], AgentStandingRow>(AGENT_STANDING('?', '?')).get(serial, agent));
  }

  private upsertAgent(a: AgentRecord): void {
    this.sql
      (`INSERT INTO agents (name, status, attested_at, last_seen, svid_serial, svid_not_after, status_changed_at)
                VALUES (@name, @status, @attestedAt, @lastSeen, @svidSerial, @svidNotAfter, @statusChangedAt)
                ON CONFLICT (name) DO UPDATE SET status = excluded.status, attested_at = excluded.attested_at,
                  last_seen = excluded.last_seen, svid_serial = excluded.svid_serial,
                  svid_not_after = excluded.svid_not_after, status_changed_at = excluded.status_changed_at`)
      .run(a);
  }
}

function uniqueEntry<T>(entry: EntryRecord, write: () => T): T {
  try {
    return write();
  } catch (err) {
    // SQLite names no constraint; the message names its columns.
    const { code, message } = err as { code?: string; message?: string };
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' && message?.includes('entries.agent, entries.spiffe_id')) throw duplicateEntry(entry);
    throw err;
  }
}
