/** A server start that met the datastore's write lock held by another connection: temporary, so exit EX_TEMPFAIL. */
import { join } from 'node:path';
import { StoreBusyError } from '../errors.js';

/**
 * The start stopped because another connection (a backup, an audit
 * verification, an operator's sqlite3 shell) held the SQLite datastore's
 * write lock for as long as the start's first write could wait. Nothing was
 * changed, and the same start works once that connection lets go: it is not
 * a configuration a restart would read again (78), nor a failure (1).
 */
export class DatastoreLockedError extends Error {
  override readonly name = 'DatastoreLockedError';

  constructor(dataDir: string, cause: unknown) {
    super(
      `the CA did not start: another connection holds the write lock of the datastore ${join(dataDir, 'meshca.db')} ` +
        '(a backup, an audit verification, a sqlite3 shell) and did not release it in time; nothing was changed; ' +
        "retry once it is released (systemd's Restart= does)",
      { cause },
    );
  }
}

/** Whether `err` is SQLite's write lock held elsewhere: meshca's own refusal, or SQLite's SQLITE_BUSY met outside the write queue. */
export function isDatastoreLocked(err: unknown): boolean {
  if (err instanceof StoreBusyError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}
