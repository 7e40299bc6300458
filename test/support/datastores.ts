/**
 * The datastore engines a contract test runs against: the embedded SQLite one
 * (always, committing issuances in the calling thread and on the writer
 * thread) and PostgreSQL (when a server can be started here; startPostgres
 * says loudly when it cannot). Each `open` gives a fresh, empty datastore.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import type { Datastore } from '../../src/store/datastore.js';
import { openPostgresDatastore } from '../../src/store/postgres/datastore.js';
import { openSqliteDatastore } from '../../src/store/sqlite/datastore.js';
import type { Clock } from '../../src/time/clock.js';
import { cleanupLater } from './cleanup.js';
import { startPostgres } from './postgres.js';
import { tempDir } from './temp-dir.js';

export interface OpenedStore {
  readonly store: Datastore;
  /** A second handle on the same datastore, as a restart (or another replica) would open it. */
  reopen(passphrase?: string): Promise<Datastore>;
  /** Runs raw SQL against the engine, bypassing meshca (what an attacker with database access could do); its rows. */
  raw(sql: string): Promise<unknown[]>;
  /** PostgreSQL: a connection of its own, held across statements, as another replica's transaction would be. */
  session?(): Promise<{ query(sql: string): Promise<unknown[]> }>;
}

export interface Engine {
  readonly name: string;
  readonly kind: Datastore['kind'];
  open(clock: Clock, passphrase?: string): Promise<OpenedStore>;
}

function closeLater(store: Datastore): Datastore {
  cleanupLater(() => store.close().catch(() => undefined));
  return store;
}

/** The issuance writer and WAL checkpointer threads as the server runs them (workers run the built JavaScript). */
export const WRITER_THREAD = pathToFileURL(resolve(import.meta.dirname, '../../dist/src/store/sqlite/issuance-writer-worker.js'));
export const CHECKPOINTER_THREAD = pathToFileURL(resolve(import.meta.dirname, '../../dist/src/store/sqlite/wal-checkpointer-worker.js'));

const sqliteEngine = (name: string, writerThread?: URL, checkpointerThread?: URL): Engine => ({
  name,
  kind: 'sqlite',
  open: async (clock, passphrase) => {
    const dir = tempDir();
    const store = openSqliteDatastore(dir, clock, { keyPassphrase: passphrase, writerThread, checkpointerThread });
    closeLater(store);
    return {
      store,
      reopen: async (again = passphrase) => closeLater(openSqliteDatastore(dir, clock, { keyPassphrase: again, writerThread, checkpointerThread })),
      raw: async (sql) => {
        const statement = store.db.prepare(sql);
        if (statement.reader) return statement.all();
        statement.run();
        return [];
      },
    };
  },
});

function postgres(server: { database(): Promise<string> }): Engine {
  return {
    name: 'postgres',
    kind: 'postgres',
    open: async (clock, passphrase = 'contract-test passphrase') => {
      const url = await server.database();
      const store = closeLater(await openPostgresDatastore(url, clock, passphrase));
      return {
        store,
        reopen: async (again = passphrase) => closeLater(await openPostgresDatastore(url, clock, again)),
        session: async () => {
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          cleanupLater(() => client.end().catch(() => undefined));
          return { query: async (sql) => (await client.query(sql)).rows };
        },
        raw: async (sql) => {
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          try {
            return (await client.query(sql)).rows;
          } finally {
            await client.end();
          }
        },
      };
    },
  };
}

/** SQLite, and PostgreSQL when one can be started (once per test file, stopped after its last test). */
export async function engines(): Promise<Engine[]> {
  const server = await startPostgres();
  const sqlite = [sqliteEngine('sqlite'), sqliteEngine('sqlite, writer and checkpointer threads', WRITER_THREAD, CHECKPOINTER_THREAD)];
  return server ? [...sqlite, postgres(server)] : sqlite;
}
