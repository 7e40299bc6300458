/** Verifying the audit log of a datastore file directly (a copy, or a CA that is not running). */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { trustedSigner } from '../ca/audit-service.js';
import { verifyAuditLog, type VerificationResult } from '../ca/audit-verifier.js';
import { AuthoritySet } from '../ca/authority-set.js';
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
    const records = await new SqliteAuthorityStore(db, appender, systemClock).listAuthorities();
    const set = new AuthoritySet(
      records.map((record) => ({ record, facts: readCertificate(record.certDer), signer: null })),
      0,
    );
    const audit = new SqliteAuditStore(db, appender, systemClock);
    return await verifyAuditLog({
      events: audit.events(),
      checkpoints: await audit.checkpoints(),
      signerCertificate: (id) => trustedSigner(set, id, pinnedRoots),
    });
  } finally {
    db.close();
  }
}
