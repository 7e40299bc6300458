/** Writing issued-certificate rows; shared by every transaction that issues. */
import type { IssuedCertificateRecord } from '../../ca/model.js';
import type { Db } from './database.js';

export type CertificateInsert = (record: IssuedCertificateRecord) => void;

export function prepareCertificateInsert(db: Db): CertificateInsert {
  const insert = db.prepare(`INSERT INTO certificates
    (serial, spiffe_id, dns_names, not_before, not_after, public_key_sha256, key_type, issuer_id, kind,
     requested_by, agent, entry_id, issued_at, cert_der)
    VALUES (@serial, @spiffeId, @dnsNames, @notBefore, @notAfter, @publicKeySha256, @keyType, @issuerId, @kind,
     @requestedBy, @agent, @entryId, @issuedAt, @certDer)`);
  return (record) => {
    insert.run({ ...record, dnsNames: JSON.stringify(record.dnsNames) });
  };
}
