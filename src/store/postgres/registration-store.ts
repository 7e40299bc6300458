/** Join tokens, agents and registration entries in PostgreSQL. */
import type pg from 'pg';
import type { AgentRecord, AgentStatus, AuditEvent, EntryRecord, IssuedCertificateRecord, JoinTokenRecord } from '../../ca/model.js';
import { lastHashOf, type JoinTokenId } from '../../ca/join-tokens.js';
import type { AgentStanding, AttestationCommit, CredentialRecord, EntryPosition, PageSlice, TokenPosition } from '../../ca/registration-ports.js';
import type { AgentName } from '../../identity/agent-name.js';
import { nowSeconds, type Clock } from '../../time/clock.js';
import type { AgentRegistry } from '../datastore.js';
import { agentNotActive, presentedRevoked } from '../../ca/client-standing.js';
import { AGENT_REVOCATION_REASON, agentRevocationEvent, supersededAgentSvidEvent } from '../../ca/revocation-service.js';
import {
  AGENT_STANDING, COUNT_REVOCATION, CREDENTIAL, IS_REVOKED, numbered, SUPERSEDE, SUPERSEDED_AGENT_SVIDS, toAgentStanding, toCredential, UNEXPIRED_AT, type AgentStandingRow, type CredentialRow,
} from '../certificate-sql.js';
import type { RevocationReason } from '../../x509/crl.js';
import {
  AgentStatusMoved, agentStatusWrite, duplicateEntry, entryChanged, entryGone, entryParams, outstandingTokensQuery, SPEND_TOKEN, SPEND_TOKEN_TO_ADMIT, TOKEN_BY_ID, toAgent, toEntry, toToken, VOID_AGENT_TOKENS, VOIDED_BY,
  type AgentRow, type EntryRow, type TokenRow,
} from '../rows.js';
import { appendAudit, lockAudit } from './audit.js';
import { insertCertificate } from './certificate-store.js';
import { inTransaction } from './connection.js';

/** entryParams' values, $1..$8 in the entries table's column order. */
const entryValues = (e: EntryRecord) => Object.values(entryParams(e));

export class PgRegistrationStore implements AgentRegistry {
  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
  ) {}

  /** Runs `work` and appends `events` in one transaction (audit lock first, so ids stay in commit order). */
  private change<T>(events: readonly AuditEvent[], work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, async (client) => {
      await lockAudit(client);
      const result = await work(client);
      await appendAudit(client, events, nowSeconds(this.clock));
      return result;
    });
  }

  async createToken(t: JoinTokenRecord, event: AuditEvent): Promise<void> {
    await this.change([event], (c) =>
      c.query('INSERT INTO join_tokens (hash, agent, created_at, expires_at, created_by, creator_serial, used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)', [
        t.hash, t.agent, t.createdAt, t.expiresAt, t.createdBy, t.creatorSerial,
      ]),
    );
  }

  async findToken(hash: string): Promise<JoinTokenRecord | undefined> {
    const { rows } = await this.pool.query<TokenRow>('SELECT * FROM join_tokens WHERE hash = $1', [hash]);
    return rows[0] && toToken(rows[0]);
  }

  async findTokenById(id: JoinTokenId): Promise<JoinTokenRecord | undefined> {
    const { rows } = await this.pool.query<TokenRow>(numbered(TOKEN_BY_ID), [id, lastHashOf(id)]);
    return rows[0] && toToken(rows[0]);
  }

  async listOutstandingTokens(now: number, agent: AgentName | undefined, after: TokenPosition | null, limit: number): Promise<JoinTokenRecord[]> {
    const { sql, params } = outstandingTokensQuery(now, agent, after, limit);
    return (await this.pool.query<TokenRow>(numbered(sql), params)).rows.map(toToken);
  }

  async revokeToken(hash: string, now: number, event: AuditEvent): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      await lockAudit(client);
      const { rowCount } = await client.query(numbered(SPEND_TOKEN), [now, 'revocation', hash, now]);
      if (rowCount !== 1) return false;
      await appendAudit(client, [event], now);
      return true;
    });
  }

  async completeAttestation(c: AttestationCommit): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      await lockAudit(client);
      // The conditional update is the single-use guarantee: the row lock lets only one transaction flip used_at.
      // Under the audit lock, as every revocation is: a revocation of the token's maker that committed before is seen.
      const spent = await client.query(numbered(SPEND_TOKEN_TO_ADMIT), [c.now, 'attestation', c.tokenHash, c.now]);
      if (spent.rowCount !== 1) return false;
      const superseded = (await client.query<{ serial: string }>(SUPERSEDED_AGENT_SVIDS('$1', '$2'), [c.agent.name, c.now])).rows;
      await this.upsertAgent(client, c.agent);
      await insertCertificate(client, c.certificate);
      for (const { serial } of superseded) {
        await client.query(SUPERSEDE('$1', '$2'), [c.now, serial]);
      }
      if (superseded.length > 0) await client.query(COUNT_REVOCATION);
      await appendAudit(client, [...c.events, ...superseded.map(({ serial }) => supersededAgentSvidEvent(serial, c.agent.name, c.now))], c.now);
      return true;
    });
  }

  async recordAgentRenewal(name: string, presentedSerial: string, certificate: IssuedCertificateRecord, event: AuditEvent): Promise<void> {
    await this.change([event], async (c) => {
      const { rowCount } = await c.query("UPDATE agents SET svid_serial = $1, svid_not_after = $2, last_seen = $3 WHERE name = $4 AND status = 'active'", [
        certificate.serial, certificate.notAfter, certificate.issuedAt, name,
      ]);
      if (rowCount === 0) {
        throw agentNotActive(name, (await c.query<{ status: AgentStatus }>('SELECT status FROM agents WHERE name = $1', [name])).rows[0]?.status);
      }
      // Under the audit lock, as every revocation is: one that committed before is seen here.
      const revoked = (await c.query<{ reason: RevocationReason | null }>(IS_REVOKED('$1'), [presentedSerial])).rows[0];
      if (revoked) throw presentedRevoked(revoked.reason);
      await insertCertificate(c, certificate);
    });
  }

  async getAgent(name: string): Promise<AgentRecord | undefined> {
    const { rows } = await this.pool.query<AgentRow>('SELECT * FROM agents WHERE name = $1', [name]);
    return rows[0] && toAgent(rows[0]);
  }

  async listAgents(slice?: PageSlice<string>): Promise<AgentRecord[]> {
    if (!slice) return (await this.pool.query<AgentRow>('SELECT * FROM agents ORDER BY name COLLATE "C"')).rows.map(toAgent);
    const { rows } = await this.pool.query<AgentRow>('SELECT * FROM agents WHERE name COLLATE "C" > $1 ORDER BY name COLLATE "C" LIMIT $2', [slice.after ?? '', slice.limit]);
    return rows.map(toAgent);
  }

  async setAgentStatus(name: string, status: AgentStatus, at: number, event: AuditEvent, revoke: boolean, onlyFrom?: AgentStatus | null): Promise<boolean> {
    // Appended after the work, so the revocation's event can join the status change's.
    const events = [event];
    try {
      await this.change(events, (c) => this.writeStatus(c, name, status, at, events, revoke, onlyFrom));
    } catch (err) {
      if (err instanceof AgentStatusMoved) return false;
      throw err;
    }
    return true;
  }

  /** setAgentStatus's work; `events` holds the status event, and gets the revocation's. */
  private async writeStatus(
    c: pg.PoolClient, name: string, status: AgentStatus, at: number, events: AuditEvent[], revoke: boolean, onlyFrom: AgentStatus | null | undefined,
  ): Promise<void> {
    // Under READ COMMITTED an update whose row another transaction changed re-reads it, so a status changed meanwhile matches nothing.
    const write = agentStatusWrite(name, status, at, onlyFrom);
    const written = await c.query(numbered(write.sql), write.params);
    if ((written.rowCount ?? 0) === 0) throw new AgentStatusMoved();
    if (status !== 'active') await c.query(numbered(VOID_AGENT_TOKENS), [at, VOIDED_BY[status], name]);
    if (revoke) {
      const revoked = (await c.query(
        `UPDATE certificates SET revoked_at = $1, revocation_reason = $2
         WHERE agent = $3 AND revoked_at IS NULL AND ${UNEXPIRED_AT('$1')}`,
        [at, AGENT_REVOCATION_REASON, name],
      )).rowCount ?? 0;
      await c.query(COUNT_REVOCATION);
      if (revoked > 0) events.push(agentRevocationEvent(name, events[0]!.actor, revoked, at));
    }
  }

  async touchAgents(lastSeen: ReadonlyMap<string, number>): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      // In name order, so replicas touching the same agents lock their rows in one order and never deadlock.
      for (const [name, at] of [...lastSeen].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        await c.query('UPDATE agents SET last_seen = GREATEST(COALESCE(last_seen, 0), $1) WHERE name = $2', [at, name]);
      }
    });
  }

  async createEntry(entry: EntryRecord, event: AuditEvent): Promise<void> {
    await this.change([event], (c) =>
      uniqueEntry(entry, () =>
        c.query('INSERT INTO entries (id, agent, spiffe_id, ttl, dns_names, created_at, updated_at, revision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', entryValues(entry)),
      ),
    );
  }

  async updateEntry(entry: EntryRecord, event: AuditEvent): Promise<void> {
    await this.change([event], async (c) => {
      // Only over the revision it was read at: of two concurrent updates, the second is refused, not lost.
      const { rowCount } = await uniqueEntry(entry, () =>
        c.query(
          'UPDATE entries SET agent = $2, spiffe_id = $3, ttl = $4, dns_names = $5, created_at = $6, updated_at = $7, revision = $8 WHERE id = $1 AND revision = $8 - 1',
          entryValues(entry),
        ),
      );
      if (rowCount === 0) throw (await c.query('SELECT 1 FROM entries WHERE id = $1', [entry.id])).rowCount ? entryChanged(entry.id) : entryGone(entry.id);
    });
  }

  async deleteEntry(id: string, event: AuditEvent): Promise<void> {
    // Thrown inside the transaction, so that its event is not recorded: a second delete deleted nothing.
    await this.change([event], async (c) => {
      if ((await c.query('DELETE FROM entries WHERE id = $1', [id])).rowCount === 0) throw entryGone(id);
    });
  }

  async getEntry(id: string): Promise<EntryRecord | undefined> {
    const { rows } = await this.pool.query<EntryRow>('SELECT * FROM entries WHERE id = $1', [id]);
    return rows[0] && toEntry(rows[0]);
  }

  async listEntries(filter: { agent?: string }, slice?: PageSlice<EntryPosition>): Promise<EntryRecord[]> {
    if (slice) {
      const { agent, spiffeId, id } = slice.after ?? { agent: '', spiffeId: '', id: '' };
      const { rows } = await this.pool.query<EntryRow>(
        `SELECT * FROM entries WHERE ($1::text IS NULL OR agent = $1) AND (agent COLLATE "C", spiffe_id COLLATE "C", id COLLATE "C") > ($2, $3, $4)
           ORDER BY agent COLLATE "C", spiffe_id COLLATE "C", id COLLATE "C" LIMIT $5`,
        [filter.agent ?? null, agent, spiffeId, id, slice.limit],
      );
      return rows.map(toEntry);
    }
    const { rows } = filter.agent
      ? await this.pool.query<EntryRow>('SELECT * FROM entries WHERE agent = $1 ORDER BY spiffe_id COLLATE "C", id', [filter.agent])
      : await this.pool.query<EntryRow>('SELECT * FROM entries ORDER BY agent COLLATE "C", spiffe_id COLLATE "C", id');
    return rows.map(toEntry);
  }

  async countAgentsByStatus(): Promise<Record<string, number>> {
    const { rows } = await this.pool.query<{ status: string; n: string }>('SELECT status, COUNT(*) AS n FROM agents GROUP BY status');
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async credential(serial: string): Promise<CredentialRecord | undefined> {
    const { rows } = await this.pool.query<CredentialRow>(CREDENTIAL('$1'), [serial]);
    return rows[0] && toCredential(rows[0]);
  }

  async agentStanding(serial: string, agent: string): Promise<AgentStanding> {
    const { rows } = await this.pool.query<AgentStandingRow>(AGENT_STANDING('$1', '$2'), [serial, agent]);
    return toAgentStanding(rows[0]);
  }

  private async upsertAgent(c: pg.PoolClient, a: AgentRecord): Promise<void> {
    await c.query(
      `INSERT INTO agents (name, status, attested_at, last_seen, svid_serial, svid_not_after, status_changed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (name) DO UPDATE SET status = excluded.status, attested_at = excluded.attested_at, last_seen = excluded.last_seen,
         svid_serial = excluded.svid_serial, svid_not_after = excluded.svid_not_after, status_changed_at = excluded.status_changed_at`,
      [a.name, a.status, a.attestedAt, a.lastSeen, a.svidSerial, a.svidNotAfter, a.statusChangedAt],
    );
  }
}

/** 23505 (unique_violation) on UNIQUE (agent, spiffe_id), named by PostgreSQL's default. */
async function uniqueEntry<T>(entry: EntryRecord, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    const { code, constraint } = err as { code?: string; constraint?: string };
    if (code === '23505' && constraint === 'entries_agent_spiffe_id_key') throw duplicateEntry(entry);
    throw err;
  }
}
