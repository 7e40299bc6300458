/**
 * Connecting to PostgreSQL: a pool, transactions, and migrations applied
 * once under an advisory lock so replicas starting together do not race.
 * The only module (with its siblings) that uses the pg package.
 */
import pg from 'pg';
import { CommitUnconfirmedError, postgresOutcomeUnknown, postgresTimedOut } from '../unavailable.js';
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

/**
 * How long the server lets one of our sessions sit idle inside a transaction
 * before it ends the session, rolling the transaction back and releasing its
 * locks. meshca's transactions send their statements back to back, so only a
 * replica that stalled (a frozen process, a host gone without closing its
 * sockets) reaches it; without it, such a replica would keep the audit lock —
 * and with it every other replica's writes — until TCP noticed, hours later
 * with default keepalives. An `idle_in_transaction_session_timeout` parameter
 * in the datastore URL overrides it.
 */
export const IDLE_IN_TRANSACTION_MS = 10_000;

/**
 * How long a query may go unanswered before meshca gives up on it, and on
 * its connection. A PostgreSQL server that is frozen, or cut off by a
 * network that drops packets, answers nothing and closes nothing (a frozen
 * server's kernel even answers TCP keepalives): without a limit, a request
 * would wait for it forever. Far longer than any query meshca sends, each
 * of which reads at most a page; schema migrations, which may rebuild a large
 * table, get MIGRATION_TIMEOUT_MS. A `query_timeout` parameter (ms) in the
 * datastore URL overrides it.
 */
export const QUERY_TIMEOUT_MS = 30_000;

/** A schema migration's statements, at start: long enough to rewrite a table of millions of certificates. */
const MIGRATION_TIMEOUT_MS = 60 * 60_000;

/** How long to wait for a connection: a new one's handshake, or a free one of the pool's. */
export const CONNECT_TIMEOUT_MS = 10_000;

export function createPool(url: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    types: types as pg.CustomTypesConfig,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // And from this side: notice a database host that vanished rather than wait on its socket forever.
    keepAlive: true,
  });
  // An idle connection the server ends (a restart, a failover, a proxy's timeout) is dropped from
  // the pool, which then emits 'error': unheard, that event would end the replica. Nothing is lost
  // by ignoring it — no work was in flight on an idle connection — and the next query connects anew.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Runs `work` in a transaction on a connection of its own. A connection lost
 * meanwhile fails the query in flight (the caller's store_unavailable, nothing
 * committed) rather than the process, and is closed instead of being pooled.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (err: Error) => (lost = err);
  // While checked out, the pool does not listen to the connection: without this, its 'error' event would be uncaught.
  client.on('error', onError);
  try {
    await client.query(begin);
    const result = await work(client);
    await commit(client);
    return result;
  } catch (err) {
    // The query may still be running on the server, and a ROLLBACK would wait behind it: the connection is
    // closed instead (not pooled), which ends the transaction.
    if (postgresTimedOut(err) || err instanceof CommitUnconfirmedError) lost ??= err as Error;
    else await client.query('ROLLBACK').catch((rollbackFailed: Error) => (lost ??= rollbackFailed));
    throw err;
  } finally {
    client.off('error', onError);
    client.release(lost);
  }
}

/**
 * Runs `work`'s reads in one snapshot of the database: under REPEATABLE READ
 * every statement sees what had committed when the first began, whatever
 * commits meanwhile.
 */
export function inSnapshot<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, work, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
}

async function commit(client: pg.PoolClient): Promise<void> {
  try {
    await client.query('COMMIT');
  } catch (err) {
    // An error the server answered with (a constraint checked at commit, a serialization failure) means it rolled back.
    throw postgresOutcomeUnknown(err) ? new CommitUnconfirmedError(err) : err;
  }
}

/** A statement of the migrations, given MIGRATION_TIMEOUT_MS (pg reads a query's own query_timeout before the pool's). */
function migrationStep(text: string, values?: unknown[]): pg.QueryConfig {
  const step: pg.QueryConfig & { query_timeout: number } = { text, values, query_timeout: MIGRATION_TIMEOUT_MS };
  return step;
}

/** Applies the migrations this database lacks; returns true when it had none (a new datastore). */
export async function migrate(pool: pg.Pool): Promise<boolean> {
  return inTransaction(pool, async (client) => {
    await client.query(migrationStep('SELECT pg_advisory_xact_lock($1)', [LOCKS.migrate]));
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ version: number }>('SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations');
    const current = rows[0]!.version;
    if (current > PG_MIGRATIONS.length) {
      throw new Error(`the datastore is at schema version ${current}, newer than this meshca (${PG_MIGRATIONS.length}); upgrade meshca`);
    }
    for (let version = current; version < PG_MIGRATIONS.length; version++) {
      await client.query(migrationStep(PG_MIGRATIONS[version]!));
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version + 1]);
    }
    return current === 0;
  });
}
