/** The certificate records as the audit verifier reads them: in id (commit) order, by serial, and the prunings. */
import {
  pruningOf, PRUNING_EVENT, type CertificateRecords, type Pruning, type RevokedSelector, type StoredCertificate,
} from '../../ca/audit-certificates.js';
import type { CertificateRow } from '../rows.js';
import { type Db, statements } from './database.js';

type RecordRow = Omit<CertificateRow, 'issued_at' | 'kind' | 'revoked_at' | 'revocation_reason'> & { kind: string; cert_der: Buffer };

const COLUMNS = `id, serial, spiffe_id, dns_names, not_before, not_after, public_key_sha256, key_type, issuer_id, kind,
  requested_by, agent, entry_id, cert_der`;

/** Pages keep a long table out of memory, as the event walk does. */
const PAGE = 1000;

export function sqliteCertificateRecords(db: Db): CertificateRecords {
  const sql = statements(db);
  return {
    async lastId() {
      return sql<[], { id: number | null }>('SELECT MAX(id) AS id FROM certificates').get()?.id ?? 0;
    },
    async *inOrder(upToId: number) {
      const page = sql<[number, number], RecordRow>(`SELECT ${COLUMNS} FROM certificates WHERE id > ? AND id <= ? ORDER BY id LIMIT ${PAGE}`);
      let after = 0;
      for (;;) {
        const rows = page.all(after, upToId);
        if (rows.length === 0) return;
        for (const r of rows) yield toStoredCertificate(r);
        after = rows[rows.length - 1]!.id;
      }
    },
    async bySerial(serial: string) {
      const row = sql<[string], RecordRow>(`SELECT ${COLUMNS} FROM certificates WHERE serial = ?`).get(serial);
      return row && toStoredCertificate(row);
    },
    async prunings(): Promise<Pruning[]> {
      return sql<[string], { seq: number; data: string }>('SELECT seq, data FROM audit_events WHERE type = ? ORDER BY seq')
        .all(PRUNING_EVENT)
        .map((r) => pruningOf({ seq: r.seq, dataJson: r.data }));
    },
    async notRevoked(selector: RevokedSelector, at: number, upToId: number) {
      // The column comes from a closed set (RevokedSelector), never from the stored text.
      const keepAgents = selector.exceptAgentSvids ? " AND kind != 'agent'" : '';
      return sql<[string, number, number, number], { serial: string }>(
        `SELECT serial FROM certificates WHERE ${selector.column} = ? AND id <= ? AND not_after > ?
           AND (revoked_at IS NULL OR revoked_at > ?)${keepAgents} ORDER BY id LIMIT 1`,
      ).get(selector.value, upToId, at, at)?.serial;
    },
  };
}

function toStoredCertificate(r: RecordRow): StoredCertificate {
  let dnsNames: string[];
  try {
    dnsNames = JSON.parse(r.dns_names) as string[];
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
    certDer: Buffer.from(r.cert_der),
  };
}
