/**
 * The embedded datastore: one SQLite database in the data directory and the
 * adapters over it. better-sqlite3 is used by store/sqlite/ and nowhere else.
 */
import { join } from 'node:path';
import { aloneCoordinator } from '../../ca/ports.js';
import type { Clock } from '../../time/clock.js';
import type { Datastore } from '../datastore.js';
import { FileKeyCustody, KEYS_DIR } from '../file-key-custody.js';
import { WRITE_PROBE } from '../certificate-sql.js';
import { sqliteUnavailable } from '../unavailable.js';
import { AuditAppender } from './audit-appender.js';
import { SqliteAuditStore } from './audit-store.js';
import { SqliteAuthorityStore } from './authority-store.js';
import { SqliteCertificateStore } from './certificate-store.js';
import { openDatabase, type Db } from './database.js';
import { IssuanceWriterThread } from './issuance-writer.js';
import { SqliteRegistrationStore } from './registration-store.js';
import { checkpointInBackground, WalCheckpointerThread } from './wal-checkpointer.js';
import { LOCK_WAIT_MS, WriteQueue } from './write-queue.js';

export interface SqliteDatastore extends Datastore {
  readonly kind: 'sqlite';
  readonly db: Db;
  readonly authorities: SqliteAuthorityStore;
  readonly certificates: SqliteCertificateStore;
  readonly registrations: SqliteRegistrationStore;
  readonly audit: SqliteAuditStore;
}

export interface SqliteOptions {
  readonly keyPassphrase?: string;
  /** The built issuance-writer-worker.js: commit issuances on a thread of their own (the server does). */
  readonly writerThread?: URL;
  /** The built wal-checkpointer-worker.js: checkpoint the WAL on a thread of its own, off the commit path (the server does). */
  readonly checkpointerThread?: URL;
  /** How long a change may wait for a write lock another connection holds (LOCK_WAIT_MS), the event loop serving meanwhile. */
  readonly lockWaitMs?: number;
}

/** Often enough that the backstop never finds much to copy; an idle log costs a check, not an fsync. */
const CHECKPOINT_INTERVAL_MS = 250;

/**
 * How long readiness's write probe waits for another connection's write lock
 * (an operator's sqlite3, a backup tool): a readiness check that takes seconds
 * is a failed one to its prober. Longer than a commit holds the lock (an
 * fsync), so a probe under load is not failed by them.
 */
const PROBE_LOCK_WAIT_MS = 250;

/** The embedded datastore: <dataDir>/meshca.db, and CA keys as files in <dataDir>/keys. */
export function openSqliteDatastore(dataDir: string, clock: Clock, options: SqliteOptions = {}): SqliteDatastore {
  const { db, created, path } = openDatabase(dataDir);
  const appender = new AuditAppender(db);
  const writes = new WriteQueue(db, options.lockWaitMs ?? LOCK_WAIT_MS);
  const checkpointer = options.checkpointerThread && new WalCheckpointerThread(options.checkpointerThread, { path, intervalMs: CHECKPOINT_INTERVAL_MS });
  if (checkpointer) checkpointInBackground(db);
  const writer = options.writerThread ? new IssuanceWriterThread(options.writerThread, path, checkpointer !== undefined) : undefined;
  return {
    kind: 'sqlite',
    db,
    created,
    custody: new FileKeyCustody(join(dataDir, KEYS_DIR), options.keyPassphrase),
    coordinator: aloneCoordinator,
    authorities: new SqliteAuthorityStore(db, writes, appender, clock),
    certificates: new SqliteCertificateStore(db, writes, appender, clock, writer),
    registrations: new SqliteRegistrationStore(db, writes, appender, clock),
    audit: new SqliteAuditStore(db, writes, appender, clock),
    // In this process: it answers unless it was closed.
    reachable: async () => void db.prepare('SELECT 1').get(),
    writable: () => writes.write(() => WRITE_PROBE('zeroblob(4096)').forEach((sql) => db.prepare(sql).run()), PROBE_LOCK_WAIT_MS),
    unavailable: sqliteUnavailable,
    close: async () => {
      // Writes waiting for another connection's lock finish first (within their wait), as the writer thread's do.
      await writes.settled();
      await writer?.close();
      await checkpointer?.close();
      db.close();
    },
  };
}
