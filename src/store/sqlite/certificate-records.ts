/** The certificate records as the audit verifier reads them: in id (commit) order, by serial, and the prunings. */
import { pruningOf, PRUNING_EVENT, type CertificateRecords, type Pruning, type RevokedSelector, type StrayRecord } from '../../ca/audit-certificates.js';
import { LATER_ISSUANCE, laterIssuancePattern, SHARED_SERIAL, strayRecordQuery, UNEXPIRED_AT } from '../certificate-sql.js';
import { CERTIFICATE_RECORD_COLUMNS as COLUMNS, storedCertificate, type CertificateRecordRow } from '../rows.js';
import { type Db, statements } from './database.js';

/** Pages keep a long table out of memory, as the event walk does. */
const PAGE = 1000;

export function sqliteCertificateRecords(db: Db): CertificateRecords {
  const sql = statements(db);
  return {
    async lastId() {
      return sql<[], { id: number | null }>('SELECT MAX(id) AS id FROM certificates').get()?.id ?? 0;
    },
    async stray() {
      return sql<[], StrayRecord>(strayRecordQuery('sqlite')).get();
    },
    async sharedSerial() {
      return sql<[], { serial: string }>(SHARED_SERIAL).get()?.serial;
    },
    async *inOrder(upToId: number) {
      const page = sql<[number, number], CertificateRecordRow>(`SELECT ${COLUMNS} FROM certificates WHERE id > ? AND id <= ? ORDER BY id LIMIT ${PAGE}`);
      let after = 0;
      for (;;) {
        const rows = page.all(after, upToId);
        if (rows.length === 0) return;
        for (const r of rows) yield storedCertificate(r);
        after = rows[rows.length - 1]!.id;
      }
    },
    async bySerial(serial: string) {
      const row = sql<[string], CertificateRecordRow>(`SELECT ${COLUMNS} FROM certificates WHERE serial = ?`).get(serial);
      return row && storedCertificate(row);
    },
    async issuedAfter(serial: string, seq: number) {
      return sql<[number, string], { seq: number }>(LATER_ISSUANCE).get(seq, laterIssuancePattern(serial))?.seq;
    },
    async prunings(): Promise<Pruning[]> {
      return sql<[string], { seq: number; at: number; data: string }>('SELECT seq, at, data FROM audit_events WHERE type = ? ORDER BY seq')
        .all(PRUNING_EVENT)
        .map((r) => pruningOf({ seq: r.seq, at: r.at, dataJson: r.data }));
    },
    async notRevoked(selector: RevokedSelector, leastNotAfter: number, revokedBy: number, upToId: number) {
      // The column comes from a closed set (RevokedSelector), never from the stored text.
      const keepAgents = selector.exceptAgentSvids ? " AND kind != 'agent'" : '';
      return sql<[string, number, number, number], { serial: string }>(
        `SELECT serial FROM certificates WHERE ${selector.column} = ? AND id <= ? AND ${UNEXPIRED_AT('?')}
           AND (revoked_at IS NULL OR revoked_at > ?)${keepAgents} ORDER BY id LIMIT 1`,
      ).get(selector.value, upToId, leastNotAfter, revokedBy)?.serial;
    },
  };
}
