/** Verifying an audit log straight from a datastore (a copy, a CA that is not running, a migrated one). */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { verifyStoredAudit, type VerifyOptions } from '../ca/audit-service.js';
import type { VerificationResult } from '../ca/audit-verifier.js';
import { AuditAppender } from '../store/sqlite/audit-appender.js';
import { SqliteAuditStore } from '../store/sqlite/audit-store.js';
import { SqliteAuthorityStore } from '../store/sqlite/authority-store.js';
import { openDatabase } from '../store/sqlite/database.js';
import { WriteQueue } from '../store/sqlite/write-queue.js';
import { systemClock } from '../time/clock.js';

export async function verifyDatastoreFile(path: string, options: VerifyOptions = {}): Promise<VerificationResult> {
  if (!existsSync(path)) throw new Error(`no datastore file at ${path}`);
  const { db } = openDatabase(dirname(path), { readonly: true, file: path });
  try {
    const appender = new AuditAppender(db);
    const writes = new WriteQueue(db);
    return await verifyStoredAudit(new SqliteAuthorityStore(db, writes, appender, systemClock), new SqliteAuditStore(db, writes, appender, systemClock), options);
  } finally {
    db.close();
  }
}
