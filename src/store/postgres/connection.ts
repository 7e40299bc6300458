/**
 * Connecting to PostgreSQL: a pool, transactions, and migrations applied
 * once under an advisory lock so replicas starting together do not race.
 * The only module (with its siblings) that uses the pg package.
 */
import pg from 'pg';
import { PG_MIGRATIONS } from './migrations.js';

/** Advisory lock keys meshca uses; arbitrary, but fixed. */
export const LOCKS = {
  migrate: 7_246_001,
  /** Serializes appends to the audit chain (and so certificate ids in commit order). */
  audit: 7_246_002,
  /** The lifecycle lock: one replica creates or rotates authorities at a time. */
  lifecycle: 7_246_003,
} as const;

/** BIGINT columns as numbers: meshca's values (seconds, sequence numbers) are far below 2^53. */
const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text'),
};

export function createPool(url: string): pg.Pool {
  return new pg.Pool({ connectionString: url, max: 10, types: types as pg.CustomTypesConfig });
}

export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Applies the migrations this database lacks; returns true when it had none (a new datastore). */
export async function migrate(pool: pg.Pool): Promise<boolean> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.migrate]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ version: number }>('SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations');
    const current = rows[0]!.version;
    if (current > PG_MIGRATIONS.length) {
      throw new Error(`the datastore is at schema version ${current}, newer than this meshca (${PG_MIGRATIONS.length}); upgrade meshca`);
    }
    for (let version = current; version < PG_MIGRATIONS.length; version++) {
      await client.query(PG_MIGRATIONS[version]!);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version + 1]);
    }
    return current === 0;
  });
}
