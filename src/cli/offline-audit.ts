/** Verifying an audit log straight from a datastore (a copy, a CA that is not running, a migrated one). */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { trustedSigner, verificationInput, type AuditStorePort } from '../ca/audit-service.js';
import { verifyAuditLog, type VerificationResult } from '../ca/audit-verifier.js';
import { AuthoritySet } from '../ca/authority-set.js';
import type { AuthorityJournal } from '../ca/ports.js';
import { AuditAppender } from '../store/sqlite/audit-appender.js';
import { SqliteAuditStore } from '../store/sqlite/audit-store.js';
import { SqliteAuthorityStore } from '../store/sqlite/authority-store.js';
import { openDatabase } from '../store/sqlite/database.js';
import { systemClock } from '../time/clock.js';
import { readCertificate } from '../x509/certificate-reader.js';

export async function verifyDatastoreFile(path: string, pinnedRoots?: readonly X509Certificate[]): Promise<VerificationResult> {
  if (!existsSync(path)) throw new Error(`no datastore file at ${path}`);
  const { db } = openDatabase(dirname(path), { readonly: true, file: path });
  try {
    const appender = new AuditAppender(db);
    return await verifyStoredAudit(new SqliteAuthorityStore(db, appender, systemClock), new SqliteAuditStore(db, appender, systemClock), pinnedRoots);
  } finally {
    db.close();
  }
}

/**
 * Walks the chain, checks every checkpoint against the authorities the datastore records (or
 * `pinnedRoots`), and holds the certificate records to their issuance events.
 */
export async function verifyStoredAudit(
  journal: AuthorityJournal,
  audit: AuditStorePort,
  pinnedRoots?: readonly X509Certificate[],
): Promise<VerificationResult> {
  const records = await journal.listAuthorities();
  const set = new AuthoritySet(
    records.map((record) => ({ record, facts: readCertificate(record.certDer), signer: null })),
    0,
  );
  return verifyAuditLog(await verificationInput(audit, (id) => trustedSigner(set, id, pinnedRoots)));
}
