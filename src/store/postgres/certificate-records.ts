/**
 * The certificate records as the audit verifier reads them from PostgreSQL:
 * in id order (which is commit order, since every write that inserts a record
 * holds the audit lock first), by serial, and the prunings.
 */
import type pg from 'pg';
import { pruningOf, PRUNING_EVENT, type CertificateRecords, type Pruning, type RevokedSelector, type StrayRecord } from '../../ca/audit-certificates.js';
import { LATER_ISSUANCE, laterIssuancePattern, numbered, SHARED_SERIAL, strayRecordQuery, UNEXPIRED_AT } from '../certificate-sql.js';
import { CERTIFICATE_RECORD_COLUMNS as COLUMNS, storedCertificate, type CertificateRecordRow } from '../rows.js';

/** Pages keep a long table out of memory, as the event walk does. */
const PAGE = 1000;

export function pgCertificateRecords(pool: pg.Pool): CertificateRecords {
  return {
    async lastId() {
      const { rows } = await pool.query<{ id: number | null }>('SELECT MAX(id) AS id FROM certificates');
      return rows[0]?.id ?? 0;
    },
    async stray() {
      const { rows } = await pool.query<StrayRecord>(strayRecordQuery('postgres'));
      return rows[0];
    },
    async sharedSerial() {
      const { rows } = await pool.query<{ serial: string }>(SHARED_SERIAL);
      return rows[0]?.serial;
    },
    async *inOrder(upToId: number) {
      let after = 0;
      for (;;) {
        const { rows } = await pool.query<CertificateRecordRow>(
          `SELECT ${COLUMNS} FROM certificates WHERE id > $1 AND id <= $2 ORDER BY id LIMIT ${PAGE}`,
          [after, upToId],
        );
        if (rows.length === 0) return;
        for (const r of rows) yield storedCertificate(r);
        after = rows[rows.length - 1]!.id;
      }
    },
    async bySerial(serial: string) {
      const { rows } = await pool.query<CertificateRecordRow>(`SELECT ${COLUMNS} FROM certificates WHERE serial = $1`, [serial]);
      return rows[0] && storedCertificate(rows[0]);
    },
    async issuedAfter(serial: string, seq: number) {
      const { rows } = await pool.query<{ seq: number }>(numbered(LATER_ISSUANCE), [seq, laterIssuancePattern(serial)]);
      return rows[0]?.seq;
    },
    async prunings(): Promise<Pruning[]> {
      const { rows } = await pool.query<{ seq: number; at: number; data: string }>('SELECT seq, at, data FROM audit_events WHERE type = $1 ORDER BY seq', [PRUNING_EVENT]);
      return rows.map((r) => pruningOf({ seq: r.seq, at: r.at, dataJson: r.data }));
    },
    async notRevoked(selector: RevokedSelector, leastNotAfter: number, revokedBy: number, upToId: number) {
      // The column comes from a closed set (RevokedSelector), never from the stored text.
      const keepAgents = selector.exceptAgentSvids ? " AND kind != 'agent'" : '';
      const { rows } = await pool.query<{ serial: string }>(
        `SELECT serial FROM certificates WHERE ${selector.column} = $1 AND id <= $2 AND ${UNEXPIRED_AT('$3')}
           AND (revoked_at IS NULL OR revoked_at > $4)${keepAgents} ORDER BY id LIMIT 1`,
        [selector.value, upToId, leastNotAfter, revokedBy],
      );
      return rows[0]?.serial;
    },
  };
}
