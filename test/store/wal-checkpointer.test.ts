/**
 * The WAL checkpointer thread: committed pages reach the database file
 * without any commit paying for the copy, and SQLite's automatic checkpoint
 * stays behind it only as a backstop.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteDatastore } from '../../src/store/sqlite/datastore.js';
import { BACKSTOP_PAGES } from '../../src/store/sqlite/wal-checkpointer.js';
import { cleanupLater } from '../support/cleanup.js';
import { FakeClock } from '../support/fake-clock.js';
import { CHECKPOINTER_THREAD, WRITER_THREAD } from '../support/datastores.js';
import { issued } from '../support/store-records.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait.js';

function openWithThreads() {
  const dir = tempDir();
  const store = openSqliteDatastore(dir, new FakeClock(), { writerThread: WRITER_THREAD, checkpointerThread: CHECKPOINTER_THREAD });
  cleanupLater(() => store.close());
  return { store, databaseFile: join(dir, 'meshca.db') };
}

describe('the WAL checkpointer thread', () => {
  it('pass/copies committed issuances into the database file though no commit reached an automatic checkpoint', async () => {
    const { store, databaseFile } = openWithThreads();
    const before = statSync(databaseFile).size;
    // Far fewer log pages than even SQLite's default threshold (1,000): only the thread can have copied them.
    for (let i = 0; i < 40; i++) {
      const { record, event } = issued(i.toString(16).padStart(2, '0'));
      await store.certificates.recordIssued(record, event);
    }
    await waitFor('the database file to take the issuances in', () => statSync(databaseFile).size > before, 5_000, 50);
  });

  it('pass/leaves the committing connections their automatic checkpoint as a backstop only', () => {
    const { store } = openWithThreads();
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(BACKSTOP_PAGES);
  });
});
