/**
 * A group-committed write (an issuance, a standalone audit event) waits for
 * another connection's write lock no longer than the one wait (5 s) from when
 * IT was asked for: not afresh from when its batch starts, which may be just
 * after a batch it queued behind got the lock at the end of its own wait.
 * The writes' clock is a fake, moved by the test; the lock is real SQLite's.
 */
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { StoreBusyError } from '../../src/errors.js';
import { AuditAppender } from '../../src/store/sqlite/audit-appender.js';
import { SqliteAuditStore } from '../../src/store/sqlite/audit-store.js';
import { SqliteCertificateStore } from '../../src/store/sqlite/certificate-store.js';
import { openDatabase } from '../../src/store/sqlite/database.js';
import { IssuanceWriterThread } from '../../src/store/sqlite/issuance-writer.js';
import { LOCK_WAIT_MS, WriteQueue } from '../../src/store/sqlite/write-queue.js';
import { WRITER_THREAD } from '../support/datastores.js';
import { FakeClock } from '../support/fake-clock.js';
import { issued } from '../support/store-records.js';
import { tempDir } from '../support/temp-dir.js';
import { sleep } from '../support/wait.js';

/** The monotonic milliseconds the WriteQueue tells its waits by, moved only by the test. */
class FakeMonotonic {
  ms = 0;
  readonly now = () => this.ms;
}

/** A datastore's write path over a real file, its waits told by `clock`, and a second connection (an operator's sqlite3). */
function writePath(clock: FakeMonotonic, writerThread?: URL) {
  const { db, path } = openDatabase(tempDir());
  const writes = new WriteQueue(db, LOCK_WAIT_MS, clock.now);
  const writer = writerThread && new IssuanceWriterThread(writerThread, path);
  const appender = new AuditAppender(db);
  const other = new Database(path);
  onTestFinished(async () => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
    await writes.settled();
    await writer?.close();
    db.close();
  });
  const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  return {
    writes,
    other,
    certificates: new SqliteCertificateStore(db, writes, appender, new FakeClock(), writer),
    audit: new SqliteAuditStore(db, writes, appender, new FakeClock()),
    count,
  };
}

type WritePath = ReturnType<typeof writePath>;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What `p` settled to within `ms` of real time: 'written', the error, or 'still waiting'. */
const settledWithin = (p: Promise<void>, ms: number): Promise<unknown> =>
  Promise.race([p.then(() => 'written', (err: unknown) => err), sleep(ms).then(() => 'still waiting')]);

const CASES = [
  { what: 'an issuance (main thread)', writerThread: undefined, table: 'certificates', write: (w: WritePath, n: number) => w.certificates.recordIssued(issued(`0${n}`).record, issued(`0${n}`).event) },
  { what: 'an issuance (writer thread)', writerThread: WRITER_THREAD, table: 'certificates', write: (w: WritePath, n: number) => w.certificates.recordIssued(issued(`0${n}`).record, issued(`0${n}`).event) },
  { what: 'a standalone audit event', writerThread: undefined, table: 'audit_events', write: (w: WritePath, n: number) => w.audit.append({ type: 'refusal', actor: 'x', data: { n } }) },
];

describe("a group-committed write's wait for another connection's write lock", () => {
  it.each(CASES)('$what queued behind a batch that got the lock at the end of its wait is refused (Retry-After) once its own wait from when it was asked is over', async ({ writerThread, table, write }) => {
    const clock = new FakeMonotonic();
    const path = writePath(clock, writerThread);
    path.other.exec('BEGIN IMMEDIATE');
    const first = write(path, 1);
    await nextTurn();
    clock.ms = 100;
    const second = write(path, 2);
    // Taken again between the two batches: the WriteQueue runs this after the first batch's commit and before the second's.
    const retaken = path.writes.inTurn(async () => path.other.exec('BEGIN IMMEDIATE'));
    clock.ms = LOCK_WAIT_MS - 100;
    path.other.exec('COMMIT');
    await first;
    await retaken;

    // The second's wait, from when it was asked, ends at 5100; counted afresh from its batch's start it would end at 9900.
    clock.ms = LOCK_WAIT_MS + 200;
    const outcome = await settledWithin(second, 1500);
    expect({ outcome, onlyTheFirstWritten: path.count(table) }).toEqual({ outcome: expect.any(StoreBusyError), onlyTheFirstWritten: 1 });
    expect((outcome as StoreBusyError).retryAfterSeconds).toBe(1);
  });
});

describe('a WriteQueue whose wait is longer than any timer can hold', () => {
  it('keeps a write in line behind another for as long as the lock is held, not refusing it at once', async () => {
    const { db, path } = openDatabase(tempDir());
    const writes = new WriteQueue(db, 2 ** 40);
    const other = new Database(path);
    onTestFinished(() => {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      db.close();
    });
    other.exec('BEGIN IMMEDIATE');
    const first = writes.write(() => db.prepare("UPDATE ca_state SET value = value + 1 WHERE name = 'crl_number'").run());
    const second = writes.write(() => db.prepare("UPDATE ca_state SET value = value + 1 WHERE name = 'crl_number'").run()).then(() => 'written', (err: unknown) => err);
    await sleep(50);
    other.exec('ROLLBACK');
    await first;
    expect(await second).toBe('written');
  });
});
