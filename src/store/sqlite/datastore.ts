/**
 * The embedded datastore: one SQLite database in the data directory and the
 * adapters over it. better-sqlite3 is used by store/sqlite/ and nowhere else.
 */
import type { Clock } from '../../time/clock.js';
import { AuditAppender } from './audit-appender.js';
import { SqliteAuditStore } from './audit-store.js';
import { SqliteAuthorityStore } from './authority-store.js';
import { SqliteCertificateStore } from './certificate-store.js';
import { openDatabase, type Db } from './database.js';
import { SqliteRegistrationStore } from './registration-store.js';

export interface SqliteDatastore {
  readonly db: Db;
  /** True when this open created the database (the data directory held no datastore). */
  readonly created: boolean;
  readonly authorities: SqliteAuthorityStore;
  readonly certificates: SqliteCertificateStore;
  readonly registrations: SqliteRegistrationStore;
  readonly audit: SqliteAuditStore;
  close(): void;
}

export function openSqliteDatastore(dataDir: string, clock: Clock): SqliteDatastore {
  const { db, created } = openDatabase(dataDir);
  const appender = new AuditAppender(db);
  return {
    db,
    created,
    authorities: new SqliteAuthorityStore(db, appender, clock),
    certificates: new SqliteCertificateStore(db, appender, clock),
    registrations: new SqliteRegistrationStore(db, appender, clock),
    audit: new SqliteAuditStore(db, appender, clock),
    close: () => db.close(),
  };
}
