/** Verifying an audit log straight from a datastore (a copy, a CA that is not running, a migrated one). */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { verificationInput, type AuditStorePort, type VerifyOptions } from '../ca/audit-service.js';
import { verifyAuditLog, type VerificationResult } from '../ca/audit-verifier.js';
import { AuthoritySet } from '../ca/authority-set.js';
import type { AuthorityJournal } from '../ca/ports.js';
import { AuditAppender } from '../store/sqlite/audit-appender.js';
import { SqliteAuditStore } from '../store/sqlite/audit-store.js';
import { SqliteAuthorityStore } from '../store/sqlite/authority-store.js';
import { openDatabase } from '../store/sqlite/database.js';
import { systemClock } from '../time/clock.js';
import { readCertificate } from '../x509/certificate-reader.js';

export async function verifyDatastoreFile(path: string, options: VerifyOptions = {}): Promise<VerificationResult> {
  if (!existsSync(path)) throw new Error(`no datastore file at ${path}`);
  const { db } = openDatabase(dirname(path), { readonly: true, file: path });
  try {
    const appender = new AuditAppender(db);
    return await verifyStoredAudit(new SqliteAuthorityStore(db, appender, systemClock), new SqliteAuditStore(db, appender, systemClock), options);
  } finally {
    db.close();
  }
}

/**
 * Walks the chain, checks every checkpoint against the authorities the datastore records (or
 * pinned roots), holds the certificate records to their issuance events, and the log to a head seen before.
 */
export async function verifyStoredAudit(journal: AuthorityJournal, audit: AuditStorePort, options: VerifyOptions = {}): Promise<VerificationResult> {
  const records = await journal.listAuthorities();
  const set = new AuthoritySet(
    records.map((record) => ({ record, facts: readCertificate(record.certDer), signer: null })),
    0,
  );
  return verifyAuditLog(await verificationInput(audit, set, options, journal));
}
