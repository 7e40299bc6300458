/**
 * Rows as both SQL datastores store them (the same columns in SQLite and
 * PostgreSQL), and how they become the CA's records.
 */
import type { StoredCertificate } from '../ca/audit-certificates.js';
import type { Checkpoint } from '../ca/audit-checkpoint.js';
import type { RegisteredEntry, RegisteredToken, RegistrationSnapshot } from '../ca/audit-registration.js';
import type { RevokedRecord } from '../ca/audit-revocations.js';
import type { StoredEvent } from '../ca/audit-verifier.js';
import type { CertificateSummary } from '../ca/certificate-query.js';
import type { AgentRecord, AgentStatus, AuthorityRecord, EntryRecord, JoinTokenRecord, TokenSpending } from '../ca/model.js';
import type { PkiOrigin } from '../ca/ports.js';
import { CaIntegrityError, ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import type { AgentName } from '../identity/agent-name.js';
import type { TokenPosition } from '../ca/registration-ports.js';
import type { DnsName } from '../identity/dns-name.js';
import { SpiffeId } from '../identity/spiffe-id.js';
import type { Duration } from '../time/duration.js';

export interface EventRow {
  seq: number;
  at: number;
  type: string;
  actor: string;
  data: string;
  prev_hash: string;
  hash: string;
}

export function toStored(r: EventRow): StoredEvent {
  return { seq: r.seq, at: r.at, type: r.type, actor: r.actor, dataJson: r.data, prevHash: r.prev_hash, hash: r.hash };
}

export interface AuthorityRow {
  id: string;
  kind: AuthorityRecord['kind'];
  state: AuthorityRecord['state'];
  parent_id: string | null;
  /** Bytes as meshca writes it; whatever else the table was made to hold is read as no certificate (see toAuthority). */
  cert_der: unknown;
  /** upstreamChainColumn's text as meshca writes it; anything else the table was made to hold is refused by upstreamChainOf. */
  upstream_chain: unknown;
  not_before: number;
  not_after: number;
  key_ref: string | null;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
  tainted_at: number | null;
}

/** The upstream_chain column as both engines write it (and toAuthority reads it): a JSON array of base64 DER. */
export function upstreamChainColumn(ders: readonly Buffer[]): string {
  return JSON.stringify(ders.map((d) => d.toString('base64')));
}

/**
 * The upstream_chain column read back; one that is not what upstreamChainColumn
 * writes (the datastore was altered) stops whoever reads it (a starting CA, a
 * sync, audit verify) with an error that names the authority, not a bare
 * SyntaxError. It is not read as some other chain: the CA would serve it.
 */
function upstreamChainOf(row: AuthorityRow): Buffer[] {
  let links: unknown;
  try {
    links = typeof row.upstream_chain === 'string' ? JSON.parse(row.upstream_chain) : undefined;
  } catch {
    links = undefined;
  }
  if (!Array.isArray(links) || !links.every((link) => typeof link === 'string')) {
    throw new CaIntegrityError(`the ${row.kind} ${row.id}'s recorded upstream chain is not the list of certificates meshca writes: the authority records were altered; restore the datastore from a backup`);
  }
  return links.map((link: string) => Buffer.from(link, 'base64'));
}

export function toAuthority(row: AuthorityRow): AuthorityRecord {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state,
    parentId: row.parent_id,
    // Not bytes (SQLite keeps any type in a BLOB column): no certificate, which the CA refuses at start and audit verify
    // names as not the one created, where hashing the value would fail the whole verification.
    certDer: Buffer.isBuffer(row.cert_der) ? row.cert_der : Buffer.alloc(0),
    upstreamChainDer: upstreamChainOf(row),
    notBefore: row.not_before,
    notAfter: row.not_after,
    keyRef: row.key_ref,
    createdAt: row.created_at,
    activatedAt: row.activated_at,
    retiredAt: row.retired_at,
    taintedAt: row.tainted_at,
  };
}

export interface CertificateRow {
  id: number;
  serial: string;
  spiffe_id: string;
  dns_names: string;
  not_before: number;
  not_after: number;
  issued_at: number;
  kind: CertificateSummary['kind'];
  requested_by: string;
  agent: string | null;
  entry_id: string | null;
  key_type: string;
  public_key_sha256: string;
  issuer_id: string;
  revoked_at: number | null;
  revocation_reason: string | null;
}

export const SUMMARY_COLUMNS = `id, serial, spiffe_id, dns_names, not_before, not_after, issued_at, kind, requested_by, agent, entry_id,
  key_type, public_key_sha256, issuer_id, revoked_at, revocation_reason`;

export function toSummary(r: CertificateRow): CertificateSummary {
  return {
    serial: r.serial,
    spiffeId: r.spiffe_id,
    dnsNames: JSON.parse(r.dns_names) as string[],
    notBefore: r.not_before,
    notAfter: r.not_after,
    issuedAt: r.issued_at,
    kind: r.kind,
    requestedBy: r.requested_by,
    agent: r.agent,
    entryId: r.entry_id,
    keyType: r.key_type,
    publicKeySha256: r.public_key_sha256,
    issuerId: r.issuer_id,
    revokedAt: r.revoked_at,
    revocationReason: r.revocation_reason,
  };
}

export function encodeCursor(id: number): string {
  return Buffer.from(`c${id}`).toString('base64url');
}

/** The id of a cursor encodeCursor gave out: any id a record may have, up to 2^53 - 1 (16 digits), as the audit verifier allows. */
export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString();
  const id = /^c[0-9]{1,16}$/.test(text) ? Number(text.slice(1)) : NaN;
  if (!Number.isSafeInteger(id)) throw new InvalidInputError('invalid_request', 'cursor is not one this server gave out');
  return id;
}

/** An identity listing's position: the last SPIFFE ID listed. */
export function encodeIdentityCursor(spiffeId: string): string {
  return Buffer.from(`i${spiffeId}`).toString('base64url');
}

export function decodeIdentityCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString();
  if (!/^ispiffe:\/\/[!-~]{1,2039}$/.test(text)) throw new InvalidInputError('invalid_request', 'cursor is not one this server gave out');
  return text.slice(1);
}

/**
 * The first page of the whole log, bounded by time only: a row numbered below 1 is no event meshca wrote, and
 * verification, which walks from here, must meet it (a walk from event 1 never would).
 */
export const LOWEST_EVENTS = 'SELECT * FROM audit_events WHERE at >= ? ORDER BY seq LIMIT 1000';

/**
 * Where the page of events after `rows` starts. Past 2^53 - 1 a number no longer names one row (2^60 + 1 reads
 * back as 2^60), and paging from it would read the same page forever: such a row, which no event meshca writes
 * is, ends the read (verification has named the gap before it by then).
 */
export function nextEventSeq(rows: readonly { seq: number }[]): number {
  const next = rows[rows.length - 1]!.seq + 1;
  if (!Number.isSafeInteger(next)) {
    throw new Error(`an audit event is stored numbered beyond ${Number.MAX_SAFE_INTEGER}, which no event meshca writes is: the log was altered`);
  }
  return next;
}

export interface CheckpointRow {
  seq: number;
  hash: string;
  at: number;
  signer_id: string;
  signature: string;
}

export function toCheckpoint(r: CheckpointRow): Checkpoint {
  return { seq: r.seq, hash: r.hash, at: r.at, signerId: r.signer_id, signature: r.signature };
}

export interface TokenRow {
  hash: string;
  agent: string;
  created_at: number;
  expires_at: number;
  created_by: string;
  creator_serial: string | null;
  used_at: number | null;
  spent_by: TokenSpending | null;
}

export interface AgentRow {
  name: string;
  status: AgentStatus;
  attested_at: number;
  last_seen: number | null;
  svid_serial: string | null;
  svid_not_after: number | null;
  status_changed_at: number;
}

export interface EntryRow {
  id: string;
  agent: string;
  spiffe_id: string;
  ttl: number | null;
  dns_names: string;
  created_at: number;
  updated_at: number;
  revision: number;
}

export function toAgent(r: AgentRow): AgentRecord {
  return {
    name: r.name,
    status: r.status,
    attestedAt: r.attested_at,
    lastSeen: r.last_seen,
    svidSerial: r.svid_serial,
    svidNotAfter: r.svid_not_after,
    statusChangedAt: r.status_changed_at,
  };
}

/** Rows were checked when written; parsing them back restores the typed values. */
export function toEntry(r: EntryRow): EntryRecord {
  return {
    id: r.id,
    agent: r.agent as AgentName,
    spiffeId: SpiffeId.parse(r.spiffe_id),
    ttl: r.ttl as Duration | null,
    dnsNames: JSON.parse(r.dns_names) as DnsName[],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    revision: r.revision,
  };
}

/** An entry's columns as both engines write them (and toEntry reads them), in the table's column order. */
export function entryParams(e: EntryRecord): Record<string, unknown> {
  return {
    id: e.id,
    agent: e.agent,
    spiffeId: e.spiffeId.toString(),
    ttl: e.ttl,
    dnsNames: JSON.stringify(e.dnsNames),
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
    revision: e.revision,
  };
}

export function toToken(row: TokenRow): JoinTokenRecord {
  return {
    hash: row.hash,
    agent: row.agent,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    createdBy: row.created_by,
    creatorSerial: row.creator_serial,
    usedAt: row.used_at,
    ...(row.spent_by === null ? {} : { spentBy: row.spent_by }),
  };
}

/**
 * The entry service checks for a duplicate before writing, but two requests
 * can pass that check together; the UNIQUE (agent, spiffe_id) constraint then
 * refuses the second, and this is the answer it gets.
 */
export function duplicateEntry(e: EntryRecord): ConflictError {
  return new ConflictError('already_exists', `agent ${e.agent} already has an entry for ${e.spiffeId}`);
}

/** An update over a revision that is no longer current: another update came first. */
export function entryChanged(id: string): ConflictError {
  return new ConflictError('precondition_failed', `entry ${id} was changed by another request meanwhile; read it again and retry`);
}

/** An update that found no row: the entry was deleted since it was read. */
export function entryGone(id: string): NotFoundError {
  return new NotFoundError(`entry ${id}`);
}

/**
 * A certificates row as both SQL datastores store it (snake_case columns, DNS
 * names as JSON text), with the columns a StoredCertificate reads.
 */
export interface CertificateRecordRow {
  readonly id: number;
  readonly serial: string;
  readonly spiffe_id: string;
  readonly dns_names: string;
  readonly not_before: number;
  readonly not_after: number;
  readonly public_key_sha256: string;
  readonly key_type: string;
  readonly issuer_id: string;
  readonly kind: string;
  readonly requested_by: string;
  readonly agent: string | null;
  readonly entry_id: string | null;
  readonly issued_at: number;
  /** Bytes as meshca writes it; whatever else the table was made to hold (SQLite keeps any type, a NULL once NOT NULL is dropped) is named by the check. */
  readonly cert_der: unknown;
}

/** The columns of a CertificateRecordRow, for a datastore's SELECT. */
export const CERTIFICATE_RECORD_COLUMNS = `id, serial, spiffe_id, dns_names, not_before, not_after, public_key_sha256, key_type, issuer_id,
  kind, requested_by, agent, entry_id, issued_at, cert_der`;

/** A stored row as the audit verifier's record check reads it; DNS names that are not a JSON array are kept as text, for the check to name. */
export function storedCertificate(r: CertificateRecordRow): StoredCertificate {
  let dnsNames: unknown;
  try {
    dnsNames = JSON.parse(r.dns_names);
  } catch {
    dnsNames = [`(unreadable: ${r.dns_names})`];
  }
  return {
    id: r.id,
    serial: r.serial,
    spiffeId: r.spiffe_id,
    dnsNames: Array.isArray(dnsNames) ? dnsNames.map(String) : [String(dnsNames)],
    notBefore: r.not_before,
    notAfter: r.not_after,
    publicKeySha256: r.public_key_sha256,
    keyType: r.key_type,
    issuerId: r.issuer_id,
    kind: r.kind,
    requestedBy: r.requested_by,
    agent: r.agent,
    entryId: r.entry_id,
    issuedAt: r.issued_at,
    // No bytes: no certificate, which the check names as unreadable (Buffer.from would throw, failing the whole verification).
    certDer: r.cert_der instanceof Uint8Array ? Buffer.from(r.cert_der) : Buffer.alloc(0),
  };
}

/**
 * What verification reads of the registration tables, each statement in the
 * snapshot that reads the head's seq with them (both engines run these).
 */
export const REGISTRATION_SNAPSHOT = {
  head: 'SELECT COALESCE(MAX(seq), 0) AS seq FROM audit_events',
  agents: 'SELECT name, status FROM agents',
  entries: 'SELECT id, agent, spiffe_id, ttl, dns_names, revision FROM entries',
  // Every column: a datastore file an older meshca left, verified read-only (audit verify --db) and so not migrated, has no creator_serial.
  tokens: 'SELECT * FROM join_tokens',
  revoked: `SELECT id, serial, spiffe_id, agent, issuer_id, kind, not_after, revoked_at, revocation_reason FROM certificates
    WHERE revoked_at IS NOT NULL OR revocation_reason IS NOT NULL`,
} as const;

/** A row REGISTRATION_SNAPSHOT.revoked reads. */
export interface RevokedRow {
  readonly id: number;
  readonly serial: string;
  readonly spiffe_id: string;
  readonly agent: string | null;
  readonly issuer_id: string;
  readonly kind: string;
  readonly not_after: number;
  readonly revoked_at: unknown;
  readonly revocation_reason: unknown;
}

/** The rows REGISTRATION_SNAPSHOT reads, as the audit verifier's registration check takes them. */
export function registrationSnapshot(
  headSeq: number,
  agents: readonly Pick<AgentRow, 'name' | 'status'>[],
  entries: readonly Pick<EntryRow, 'id' | 'agent' | 'spiffe_id' | 'ttl' | 'dns_names' | 'revision'>[],
  tokens: readonly (Pick<TokenRow, 'hash' | 'agent' | 'expires_at' | 'used_at'> & Partial<Pick<TokenRow, 'creator_serial'>>)[],
  revoked: readonly RevokedRow[],
): RegistrationSnapshot {
  return {
    headSeq,
    agents: agents.map((a) => ({ name: a.name, status: a.status })),
    entries: entries.map((e): RegisteredEntry => ({
      id: e.id,
      agent: e.agent,
      spiffeId: e.spiffe_id,
      ttl: e.ttl,
      dnsNames: jsonOrText(e.dns_names),
      revision: e.revision,
    })),
    tokens: tokens.map((t): RegisteredToken => ({ hash: t.hash, agent: t.agent, expiresAt: t.expires_at, creatorSerial: t.creator_serial ?? null, usedAt: t.used_at })),
    revoked: revoked.map((r): RevokedRecord => ({
      id: r.id,
      serial: r.serial,
      spiffeId: r.spiffe_id,
      agent: r.agent,
      issuerId: r.issuer_id,
      kind: r.kind,
      notAfter: r.not_after,
      revokedAt: r.revoked_at,
      reason: r.revocation_reason,
    })),
  };
}

/** A JSON column as stored; text that is not JSON as it stands, for the check to name. */
function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The write of an agent's status, with `?` placeholders. Given the status the
 * caller read (`onlyFrom`; null: no record), the row is written only if it
 * still holds that: no row written means another change came first. Without
 * it, whatever the row holds is overwritten.
 */
export function agentStatusWrite(name: string, status: AgentStatus, at: number, onlyFrom: AgentStatus | null | undefined): { sql: string; params: unknown[] } {
  if (onlyFrom !== null && onlyFrom !== undefined) {
    return { sql: 'UPDATE agents SET status = ?, status_changed_at = ? WHERE name = ? AND status = ?', params: [status, at, name, onlyFrom] };
  }
  const onConflict = onlyFrom === null ? 'DO NOTHING' : 'DO UPDATE SET status = excluded.status, status_changed_at = excluded.status_changed_at';
  return { sql: `INSERT INTO agents (name, status, attested_at, status_changed_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) ${onConflict}`, params: [name, status, at, at] };
}

/** Spends an unused, unexpired token (params: now, how, hash, now); the one conditional update that makes tokens single-use. */
export const SPEND_TOKEN = 'UPDATE join_tokens SET used_at = ?, spent_by = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?';

/**
 * SPEND_TOKEN for an attestation (same params): nor while the admin
 * credential that made the token is revoked. Checked in the statement that
 * spends it, so a revocation commits either before (the token admits no one)
 * or after the attestation, as it would against any agent already admitted.
 */
export const SPEND_TOKEN_TO_ADMIT = `${SPEND_TOKEN} AND NOT EXISTS (
  SELECT 1 FROM certificates WHERE certificates.serial = join_tokens.creator_serial AND certificates.revoked_at IS NOT NULL)`;

/** Voids an agent's unused tokens when it is evicted or banned (params: at, how, agent). */
export const VOID_AGENT_TOKENS = 'UPDATE join_tokens SET used_at = ?, spent_by = ? WHERE agent = ? AND used_at IS NULL';

export const VOIDED_BY: Readonly<Record<Exclude<AgentStatus, 'active'>, TokenSpending>> = { evicted: 'eviction', banned: 'ban' };

/** The tokens with a hash starting with a token id: from the id itself to the greatest hash beginning with it. */
export const TOKEN_BY_ID = 'SELECT * FROM join_tokens WHERE hash >= ? AND hash <= ? ORDER BY hash LIMIT 1';

/**
 * A page of outstanding tokens, in the order of the partial index on
 * (expires_at, hash) over unused tokens, so that spent ones are never read.
 */
export function outstandingTokensQuery(now: number, agent: AgentName | undefined, after: TokenPosition | null, limit: number): { sql: string; params: unknown[] } {
  const where = ['used_at IS NULL', 'expires_at > ?'];
  const params: unknown[] = [now];
  if (agent !== undefined) {
    where.push('agent = ?');
    params.push(agent);
  }
  if (after !== null) {
    where.push('(expires_at, hash) > (?, ?)');
    params.push(after.expiresAt, after.hash);
  }
  params.push(limit);
  return { sql: `SELECT * FROM join_tokens WHERE ${where.join(' AND ')} ORDER BY expires_at, hash LIMIT ?`, params };
}

/** Thrown inside a status change's transaction to undo it: the agent's status was no longer the one read. */
export class AgentStatusMoved extends Error {}

/** ca_state's pki_begun: 1 for a PKI meshca makes (as every build before the origin was noted wrote it), 2 for an import. */
const PKI_BEGUN_VALUES: Readonly<Record<PkiOrigin, number>> = { generate: 1, import: 2 };

export const pkiBegunValue = (origin: PkiOrigin): number => PKI_BEGUN_VALUES[origin];

/** The origin a pki_begun value notes; a BIGINT comes back from PostgreSQL as a string. */
export function pkiOrigin(value: number | string | undefined): PkiOrigin | undefined {
  if (value === undefined) return undefined;
  return Number(value) === PKI_BEGUN_VALUES.import ? 'import' : 'generate';
}
