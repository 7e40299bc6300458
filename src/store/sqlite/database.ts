/** Opening the embedded SQLite datastore: WAL, full fsync on commit, migrations. */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { makeDirectorySync } from '../../platform/atomic-file.js';
import { join } from 'node:path';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

export interface OpenedDatabase {
  readonly db: Db;
  /** True when this call created the database file (the data directory held no datastore). */
  readonly created: boolean;
  readonly path: string;
}

export const DATABASE_FILE = 'meshca.db';

/** Opens <dataDir>/meshca.db (or `options.file`), creating and migrating it unless read-only. */
export function openDatabase(dataDir: string, options: { readonly?: boolean; file?: string } = {}): OpenedDatabase {
  if (!options.readonly) makeDirectorySync(dataDir, 0o700);
  const path = options.file ?? join(dataDir, DATABASE_FILE);
  const created = !existsSync(path);
  if (options.readonly && created) throw new Error(`no meshca datastore at ${path}`);
  const db = connect(path, options.readonly ?? false);
  try {
    if (!options.readonly) migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return { db, created, path };
}

/** A connection with the settings every meshca connection uses (the issuance writer thread opens its own). */
export function connect(path: string, readonly = false): Db {
  const db = new Database(path, { readonly });
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before it returns, so nothing is acknowledged that a crash could lose.
    db.pragma('synchronous = FULL');
  }
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  return db;
}

/**
 * How long a statement waits for a lock another connection holds; its thread
 * stands still meanwhile (better-sqlite3 is synchronous). The server's main
 * thread writes through a WriteQueue instead, which waits without blocking;
 * the issuance writer thread waits by its own clock (prepareIssuanceBatchBy),
 * for what is left of the same wait.
 */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Runs `work` with no wait at all for another connection's lock (SQLITE_BUSY
 * at once), then the usual one again. Synchronous, so no other statement of
 * this connection runs with it. (SQLite applies this pragma as it compiles
 * it: a statement prepared once would not set it again.)
 */
export function withoutBusyWait<R>(db: Db, work: () => R): R {
  db.pragma('busy_timeout = 0');
  try {
    return work();
  } finally {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`the datastore is at schema version ${current}, newer than this meshca (${MIGRATIONS.length}); upgrade meshca`);
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

/**
 * Prepares each SQL text once per connection. Preparing is far costlier than
 * running a statement, and the hot paths (authentication, issuance) run the
 * same few statements on every request.
 */
export function statements(db: Db) {
  const cache = new Map<string, Database.Statement>();
  return <P extends unknown[] | {} = unknown[], R = unknown>(sql: string): Database.Statement<P, R> => {
    let statement = cache.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      cache.set(sql, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  };
}
