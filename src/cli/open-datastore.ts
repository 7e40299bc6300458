/** Chooses the datastore: embedded SQLite in --data-dir, or PostgreSQL when --datastore names one. */
import type { ServerConfig } from '../config/server-config.js';
import type { Datastore } from '../store/datastore.js';
import { openSqliteDatastore } from '../store/sqlite/datastore.js';
import type { Clock } from '../time/clock.js';

/** The issuance writer thread, beside this module once built (dist/src/store/sqlite/issuance-writer-worker.js). */
const WRITER_THREAD = new URL('../store/sqlite/issuance-writer-worker.js', import.meta.url);
const CHECKPOINTER_THREAD = new URL('../store/sqlite/wal-checkpointer-worker.js', import.meta.url);

export async function openDatastore(config: ServerConfig, clock: Clock): Promise<Datastore> {
  if (config.datastore.kind === 'postgres') {
    // Loaded only when chosen: the embedded CA and every admin command start without the pg driver.
    const { openPostgresDatastore } = await import('../store/postgres/datastore.js');
    return openPostgresDatastore(config.datastore.url, clock, config.keyPassphrase!);
  }
  return openSqliteDatastore(config.dataDir, clock, {
    keyPassphrase: config.keyPassphrase,
    writerThread: config.sqliteWriter === 'thread' ? WRITER_THREAD : undefined,
    checkpointerThread: CHECKPOINTER_THREAD,
  });
}
