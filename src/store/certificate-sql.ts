/**
 * The certificate queries both SQL datastores run, written once with `?`
 * placeholders. PostgreSQL numbers them ($1, $2, ...) and compares text
 * byte-wise (COLLATE "C"), as SQLite does by default.
 */
import type { CertificateFilter, CertificatePage, IdentityPage, IdentitySummary } from '../ca/certificate-query.js';
import { ISSUANCE_EVENT } from '../ca/issuance-event.js';
import type { AgentStatus } from '../ca/model.js';
import type { AgentStanding, CredentialRecord } from '../ca/registration-ports.js';
import type { SpiffeId } from '../identity/spiffe-id.js';
import { isRevocationReason, type RevocationReason, type RevokedEntry } from '../x509/crl.js';
import { decodeCursor, decodeIdentityCursor, encodeCursor, encodeIdentityCursor, SUMMARY_COLUMNS, toSummary, type CertificateRow } from './rows.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * Whether a certificate has not expired at `now` (its placeholder), given the
 * column holding its notAfter: the one rule of every query that asks whether
 * a certificate still counts (revoking it, listing it on a CRL, counting it
 * live). A certificate is valid through its notAfter second (RFC 5280
 * §4.1.2.5: the validity period includes both ends), as Go's TLS and OpenSSL
 * accept it then; so a CRL still lists it, and it can still be revoked.
 */
export const UNEXPIRED_AT = (now: string, notAfter = 'not_after'): string => `${notAfter} >= ${now}`;

/**
 * Run in the transaction of every revocation: a counter other processes
 * sharing the datastore compare, to learn that their cached CRLs are stale.
 */
export const COUNT_REVOCATION = "UPDATE ca_state SET value = value + 1 WHERE name = 'revocations'";
export const REVOCATION_COUNT = "SELECT value FROM ca_state WHERE name = 'revocations'";

/**
 * Committed, in one transaction, to learn whether the datastore takes changes
 * again (a full disk freed): a row about a certificate's size is written and
 * removed, so the change needs new pages as an issuance does.
 */
export const WRITE_PROBE = (filler: string): string[] => [`INSERT INTO write_probe (filler) VALUES (${filler})`, 'DELETE FROM write_probe'];

/** The live agent SVIDs held under an agent's name, given its placeholders for the name and now: what attesting under it again revokes. */
export const SUPERSEDED_AGENT_SVIDS = (agent: string, now: string): string =>
  `SELECT serial FROM certificates WHERE agent = ${agent} AND kind = 'agent' AND revoked_at IS NULL AND ${UNEXPIRED_AT(now)} ORDER BY id`;

/** Whether the certificate with this serial (its placeholder) is revoked: a renewal presenting it is refused. */
/** The revocation reason of a revoked certificate (no row while it stands), given a placeholder for its serial. */
export const IS_REVOKED = (serial: string): string => `SELECT revocation_reason AS reason FROM certificates WHERE serial = ${serial} AND revoked_at IS NOT NULL`;

/** Revokes one agent SVID that a new attestation under the agent's name supersedes, given placeholders for the time and serial. */
export const SUPERSEDE = (at: string, serial: string): string =>
  `UPDATE certificates SET revoked_at = ${at}, revocation_reason = 'superseded' WHERE serial = ${serial}`;

/**
 * The least CRL number drawn at `nowSeconds`, its milliseconds (far below the
 * 20 octets RFC 5280 allows): the number follows the clock as well as the
 * datastore's sequence, so a datastore restored from a backup, whose sequence
 * is behind what agents hold, still numbers its next CRLs above theirs (Let's
 * Encrypt's CA numbers its CRLs by time for the same reason). The sequence
 * still tells apart two lists drawn in one second.
 */
export function crlNumberFloor(nowSeconds: number): number {
  return nowSeconds * 1000;
}

/** One issuer's revoked certificates that have not expired yet (what its CRL lists), given its placeholders for issuer and now. */
export const REVOKED_UNEXPIRED = (issuer: string, now: string): string =>
  `SELECT serial, revoked_at, revocation_reason FROM certificates WHERE issuer_id = ${issuer} AND revoked_at IS NOT NULL AND ${UNEXPIRED_AT(now)} ORDER BY id`;

export interface RevokedRow {
  readonly serial: string;
  readonly revoked_at: number;
  readonly revocation_reason: string;
}

export function toRevokedEntry(r: RevokedRow): RevokedEntry {
  return { serial: r.serial, revokedAt: r.revoked_at, reason: reasonOf(r.revocation_reason) };
}

/** What the CA recorded about a certificate a client presents, by serial (its placeholder given). */
export const CREDENTIAL = (serial: string): string => `SELECT cert_der, revoked_at, revocation_reason FROM certificates WHERE serial = ${serial}`;

/**
 * CREDENTIAL and the agent's status in one statement (placeholders given);
 * a row whatever is recorded, its columns null for what is not.
 */
export const AGENT_STANDING = (serial: string, agent: string): string =>
  `SELECT c.cert_der, c.revoked_at, c.revocation_reason, a.status AS agent_status
     FROM (SELECT 1 AS one) AS asked
     LEFT JOIN certificates c ON c.serial = ${serial}
     LEFT JOIN agents a ON a.name = ${agent}`;

export interface AgentStandingRow {
  readonly cert_der: Buffer | null;
  readonly revoked_at: number | null;
  readonly revocation_reason: string | null;
  readonly agent_status: AgentStatus | null;
}

export function toAgentStanding(r: AgentStandingRow | undefined): AgentStanding {
  const credential = r?.cert_der == null ? undefined : toCredential({ cert_der: r.cert_der, revoked_at: r.revoked_at, revocation_reason: r.revocation_reason });
  return { credential, agentStatus: r?.agent_status ?? undefined };
}

export interface CredentialRow {
  readonly cert_der: Buffer;
  readonly revoked_at: number | null;
  readonly revocation_reason: string | null;
}

export function toCredential(r: CredentialRow): CredentialRecord {
  return { certificateDer: r.cert_der, revocation: r.revoked_at === null ? null : reasonOf(r.revocation_reason ?? '') };
}

function reasonOf(stored: string): RevocationReason {
  return isRevocationReason(stored) ? stored : 'unspecified';
}

/**
 * For the audit verifier: the record with the lowest id no issuance gives.
 * Ids start at 1, and past 2^53 - 1 they no longer read back exactly, so the
 * walk in id order could not bound them; the id comes back as text, exact
 * (ordered by the column: the bare name would be the text, in both dialects).
 */
export function strayRecordQuery(dialect: Dialect): string {
  // A table rebuilt without its primary key can hold NULL ids, and SQLite any type in any column.
  const notAnInteger = dialect === 'sqlite' ? " OR typeof(id) <> 'integer'" : '';
  return `SELECT serial, COALESCE(CAST(id AS TEXT), 'null') AS id FROM certificates
    WHERE id IS NULL OR id < 1 OR id > ${Number.MAX_SAFE_INTEGER}${notAnInteger} ORDER BY certificates.id LIMIT 1`;
}

/** For the audit verifier: a serial held by two records (a table rebuilt without its unique index). */
export const SHARED_SERIAL = 'SELECT serial FROM certificates GROUP BY serial HAVING COUNT(*) > 1 LIMIT 1';

/**
 * For the audit verifier's message: the first `certificate.issued` event after
 * seq ? whose data names a serial, matched as text (laterIssuancePattern) so
 * that no stored text can make the query fail as a JSON function would.
 */
export const LATER_ISSUANCE = `SELECT seq FROM audit_events WHERE type = '${ISSUANCE_EVENT}' AND seq > ? AND data LIKE ? ESCAPE '\\' ORDER BY seq LIMIT 1`;

/** The LIKE pattern of LATER_ISSUANCE: the serial as canonical JSON writes it, LIKE's own characters escaped. */
export function laterIssuancePattern(serial: string): string {
  return `%${`"serial":${JSON.stringify(serial)}`.replace(/[\\%_]/g, '\\$&')}%`;
}

/** `?` placeholders as $1, $2, ... for PostgreSQL. */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const bytewise = (dialect: Dialect) => (dialect === 'postgres' ? ' COLLATE "C"' : '');

export function certificateListQuery(filter: CertificateFilter, cursor: string | null, limit: number, dialect: Dialect): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, ...values: unknown[]) => {
    where.push(clause);
    params.push(...values);
  };
  if (cursor !== null) add('id > ?', decodeCursor(cursor));
  if (filter.spiffeId) add('spiffe_id = ?', filter.spiffeId.toString());
  if (filter.under) {
    // A range on the index rather than LIKE, which would not use it for a case-sensitive prefix.
    const base = filter.under.toString();
    const c = bytewise(dialect);
    add(`(spiffe_id = ? OR (spiffe_id${c} >= ? AND spiffe_id${c} < ?))`, base, `${base}/`, `${base}0`);
  }
  if (filter.agent) add('agent = ?', filter.agent);
  if (filter.activeAt !== undefined) {
    add(`not_before <= ? AND ${UNEXPIRED_AT('?')} AND (revoked_at IS NULL OR revoked_at > ?)`, filter.activeAt, filter.activeAt, filter.activeAt);
  }
  if (filter.issuedAfter !== undefined) add('issued_at >= ?', filter.issuedAfter);
  if (filter.issuedBefore !== undefined) add('issued_at < ?', filter.issuedBefore);
  if (filter.serial) add('serial = ?', filter.serial);
  if (filter.revoked !== undefined) where.push(filter.revoked ? 'revoked_at IS NOT NULL' : 'revoked_at IS NULL');
  const sql = `SELECT ${SUMMARY_COLUMNS} FROM certificates ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
  params.push(limit + 1);
  return { sql: dialect === 'postgres' ? numbered(sql) : sql, params };
}

/** One more row than asked tells whether there is a next page. */
export function certificatePage(rows: CertificateRow[], limit: number): CertificatePage {
  const items = rows.slice(0, limit);
  return { items: items.map(toSummary), nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null };
}

export interface IdentityRow {
  spiffe_id: string;
  first: number;
  last: number;
  total: number;
  live: number;
  registered: number;
}

/**
 * A page of every identity ever issued, in bytewise order of ID (the order of
 * the index on spiffe_id, so a page reads only its own identities' records).
 * Registered: an entry still grants it, or it is an agent's identity and the
 * agent is active, or an admin or serving identity with a live certificate.
 */
export function identityListQuery(
  now: number, under: SpiffeId | undefined, cursor: string | null, limit: number, dialect: Dialect,
): { sql: string; params: unknown[] } {
  const id = `c.spiffe_id${bytewise(dialect)}`;
  const where: string[] = [];
  const params: unknown[] = [now, now];
  if (cursor !== null) {
    where.push(`${id} > ?`);
    params.push(decodeIdentityCursor(cursor));
  }
  if (under) {
    const base = under.toString();
    // One range for the index ("/" sorts just before "0"); the OR then drops its siblings such as `${base}-x`.
    where.push(`${id} >= ? AND ${id} < ? AND (${id} = ? OR ${id} >= ?)`);
    params.push(base, `${base}0`, base, `${base}/`);
  }
  params.push(limit + 1);
  const sql = `SELECT ${id} AS spiffe_id, MIN(c.issued_at) AS first, MAX(c.issued_at) AS last, COUNT(*) AS total,
      SUM(CASE WHEN ${UNEXPIRED_AT('?', 'c.not_after')} AND c.revoked_at IS NULL THEN 1 ELSE 0 END) AS live,
      MAX(CASE WHEN EXISTS (SELECT 1 FROM entries e WHERE e.spiffe_id = c.spiffe_id)
            OR (c.kind = 'agent' AND EXISTS (SELECT 1 FROM agents a WHERE a.status = 'active' AND a.name = c.agent))
            OR (c.kind IN ('admin', 'server') AND ${UNEXPIRED_AT('?', 'c.not_after')} AND c.revoked_at IS NULL)
          THEN 1 ELSE 0 END) AS registered
    FROM certificates c ${where.length ? `WHERE ${where.join(' AND ')}` : ''} GROUP BY 1 ORDER BY 1 LIMIT ?`;
  return { sql: dialect === 'postgres' ? numbered(sql) : sql, params };
}

/** One more row than asked tells whether there is a next page. */
export function identityPage(rows: IdentityRow[], limit: number): IdentityPage {
  const items = rows.slice(0, limit).map(toIdentity);
  return { items, nextCursor: rows.length > limit ? encodeIdentityCursor(items[items.length - 1]!.spiffeId) : null };
}

function toIdentity(r: IdentityRow): IdentitySummary {
  return {
    spiffeId: r.spiffe_id,
    firstIssuedAt: Number(r.first),
    lastIssuedAt: Number(r.last),
    certificates: Number(r.total),
    live: Number(r.live),
    registered: Number(r.registered) === 1,
  };
}
