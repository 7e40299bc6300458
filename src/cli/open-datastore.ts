/** Chooses the datastore: embedded SQLite in --data-dir, or PostgreSQL when --datastore names one. */
import type { ServerConfig } from '../config/server-config.js';
import type { Datastore } from '../store/datastore.js';
import { openSqliteDatastore } from '../store/sqlite/datastore.js';
import type { Clock } from '../time/clock.js';
import { noteDatastore } from './datastore-marker.js';

/** The issuance writer thread, beside this module once built (dist/src/store/sqlite/issuance-writer-worker.js). */
const WRITER_THREAD = new URL('../store/sqlite/issuance-writer-worker.js', import.meta.url);
const CHECKPOINTER_THREAD = new URL('../store/sqlite/wal-checkpointer-worker.js', import.meta.url);

/** Opens the datastore the configuration names, and notes in the data directory which kind it is (datastore-marker.ts). */
export async function openDatastore(config: ServerConfig, clock: Clock): Promise<Datastore> {
  const store = await openChosen(config, clock);
  try {
    await noteDatastore(config.dataDir, store.kind);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

async function openChosen(config: ServerConfig, clock: Clock): Promise<Datastore> {
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
