/**
 * Which errors from a datastore mean it cannot take a change right now — its
 * disk is full or read-only, it failed to read or write, its server is gone —
 * rather than that the change itself is wrong. The server answers those with
 * 503 store_unavailable (try again, elsewhere or later) instead of a 500: the
 * change was not committed, unless a COMMIT went unanswered, which says so.
 */
import { UnavailableError } from '../errors.js';

/**
 * A COMMIT sent but never answered (PostgreSQL stopped answering, or the
 * connection was lost on the way back; SQLite's writer thread died with the
 * batch in hand): the change may or may not have been made, and the caller
 * must not be told that nothing was.
 */
export class CommitUnconfirmedError extends UnavailableError {
  constructor(cause: unknown) {
    super('store_unavailable', 'the datastore did not confirm the change: it may or may not have been made; look before making it again', { cause });
  }
}

/**
 * A change never sent: it queued behind a commit that failed because the
 * datastore could not take changes, and fails with it rather than wait as long
 * again.
 */
export class NotAttemptedError extends UnavailableError {
  constructor(cause: unknown) {
    super('store_unavailable', 'the datastore failed the commit queued before this change, which was not attempted; nothing was changed', { cause });
  }
}

/** The file system refusing a write: the data directory's disk, for SQLite and for CA key files. */
const FILE_SYSTEM = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO']);

/** SQLite's primary result codes for the same (better-sqlite3 puts the extended code in `code`). */
const SQLITE = /^SQLITE_(FULL|IOERR|READONLY|BUSY|CANTOPEN)(_|$)/;

/**
 * PostgreSQL SQLSTATEs: 08 connection exceptions, 53 insufficient resources
 * (53100 disk full), 57P01–57P03 shutdown or not yet accepting connections,
 * 25006 a read-only transaction (a standby after a failover), 25P03 a session
 * the server ended for sitting idle in its transaction past
 * idle_in_transaction_session_timeout (a replica that stalled: the transaction
 * was rolled back), and a statement the server gave up on: 57014 canceled
 * (statement_timeout, an administrator's cancel) and 55P03 a lock not had
 * within lock_timeout (another replica holding the audit lock), settings a
 * database's administrator may give meshca's role.
 */
const POSTGRES = /^(08...|53...|57P0[123]|25006|25P03|57014|55P03)$/;

/** The network between a replica and its PostgreSQL server. */
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * node-postgres's errors, without a code, for a query on a connection it had
 * already seen end (the server ended the session while no query was under
 * way, as it does a replica idle in its transaction too long): the query was
 * never sent, so nothing of it was done.
 */
const POSTGRES_CONNECTION_GONE = /^Client (has encountered a connection error|was closed) and is not queryable$/;

/** node-postgres's errors, without a code, for a query unanswered within query_timeout and a connection not had in time. */
const POSTGRES_TIMEOUT = /^(Query read timeout|timeout exceeded when trying to connect)$/;

/** The PostgreSQL server did not answer in time: the query may still be running there. */
export function postgresTimedOut(err: unknown): boolean {
  return err instanceof Error && POSTGRES_TIMEOUT.test(err.message);
}

/**
 * A request sent to PostgreSQL with no answer back: it timed out, or the
 * connection was lost on the way. What it asked for may or may not have
 * happened.
 */
export function postgresOutcomeUnknown(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined) return NETWORK.has(code);
  return postgresTimedOut(err) || (err instanceof Error && /^Connection terminated/.test(err.message));
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function sqliteUnavailable(err: unknown): boolean {
  // A batch the writer thread died with (retried, one that was committed would fail as a duplicate, and be said not to have
  // been), or a write lock another connection kept past the wait (StoreBusyError): already said, in words of their own.
  if (err instanceof UnavailableError) return err.code === 'store_unavailable';
  const code = codeOf(err);
  return code !== undefined && (FILE_SYSTEM.has(code) || SQLITE.test(code));
}

export function postgresUnavailable(err: unknown): boolean {
  // Already said (a commit the server never confirmed), in words of its own.
  if (err instanceof UnavailableError) return err.code === 'store_unavailable';
  const code = codeOf(err);
  if (code !== undefined) return POSTGRES.test(code) || NETWORK.has(code);
  // node-postgres reports a connection that ended mid-query or before it, and a server that did not answer in time, without a code.
  return postgresOutcomeUnknown(err) || (err instanceof Error && POSTGRES_CONNECTION_GONE.test(err.message));
}
