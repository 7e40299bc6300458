/**
 * What only the SQLite datastore has: how its file is opened (WAL, fsync,
 * migrations, read-only) and triggers that hold for every connection. What
 * every engine must do is in datastore-contract.test.ts.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DATABASE_FILE, openDatabase } from '../../src/store/sqlite/database.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { PRUNE_SLICE } from '../../src/store/sqlite/certificate-store.js';
import { openSqliteDatastore, type SqliteDatastore, type SqliteOptions } from '../../src/store/sqlite/datastore.js';
import { FakeClock } from '../support/fake-clock.js';
import { tempDir } from '../support/temp-dir.js';
import { WRITER_THREAD } from '../support/datastores.js';
import { issued } from '../support/store-records.js';
import { performance } from 'node:perf_hooks';
import { StoreBusyError } from '../../src/errors.js';

function openStore(options: SqliteOptions = {}): { store: SqliteDatastore; dir: string } {
  const dir = tempDir();
  const store = openSqliteDatastore(dir, new FakeClock(), options);
  onTestFinished(() => {
    if (store.db.open) store.close();
  });
  return { store, dir };
}

describe('openDatabase', () => {
  it('creates the datastore in WAL mode with full fsync, foreign keys on and every migration applied', () => {
    const dir = join(tempDir(), 'nested', 'data');
    const { db, created, path } = openDatabase(dir);
    onTestFinished(() => {
      db.close();
    });
    expect(created).toBe(true);
    expect(path).toBe(join(dir, DATABASE_FILE));
    expect(existsSync(path)).toBe(true);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['audit_events', 'authorities', 'ca_state', 'certificates']));
  });

  it('reopens an existing datastore without migrating it again', () => {
    const dir = tempDir();
    openDatabase(dir).db.close();
    const again = openDatabase(dir);
    onTestFinished(() => {
      again.db.close();
    });
    expect(again.created).toBe(false);
    expect(again.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(again.db.prepare("SELECT count(*) AS n FROM ca_state WHERE name = 'bundle_sequence'").get()).toEqual({ n: 1 });
  });

  it('refuses a datastore from a newer meshca', () => {
    const dir = tempDir();
    const first = openDatabase(dir);
    first.db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    first.db.close();
    expect(() => openDatabase(dir)).toThrow(
      `the datastore is at schema version ${MIGRATIONS.length + 1}, newer than this meshca (${MIGRATIONS.length}); upgrade meshca`,
    );
  });

  it('refuses to open a missing datastore read-only, and creates nothing', () => {
    const dir = tempDir();
    expect(() => openDatabase(dir, { readonly: true })).toThrow(`no meshca datastore at ${join(dir, DATABASE_FILE)}`);
    expect(existsSync(join(dir, DATABASE_FILE))).toBe(false);
  });

  it('opens an existing datastore read-only so that it cannot be written', () => {
    const dir = tempDir();
    openDatabase(dir).db.close();
    const { db } = openDatabase(dir, { readonly: true });
    onTestFinished(() => {
      db.close();
    });
    expect(() => db.prepare("UPDATE ca_state SET value = 1 WHERE name = 'bundle_sequence'").run()).toThrow(/readonly/);
  });
});

describe('SqliteStore readiness (SQLite-specific; the shared behaviour is in datastore-contract.test.ts)', () => {
  it("fails the write probe within a moment while another connection holds the write lock, rather than stand the CA still for the whole busy timeout; the CA's own writes wait as long as before", async () => {
    const { store, dir } = openStore();
    const other = new Database(join(dir, DATABASE_FILE));
    onTestFinished(() => {
      other.close();
    });
    other.exec('BEGIN IMMEDIATE');
    const started = Date.now();
    // better-sqlite3 is synchronous: the whole wait is the event loop's.
    const probe = await store.writable().then(() => 'written', (err: unknown) => (store.unavailable(err) ? 'unavailable' : err));
    const waited = Date.now() - started;
    expect({ probe, quick: waited < 1000 }).toEqual({ probe: 'unavailable', quick: true });
    expect(store.db.pragma('busy_timeout', { simple: true })).toBe(5000);
    other.exec('ROLLBACK');
    await store.writable();
  });
});

describe('SqliteStore short lock waits behind a change waiting for another connection\'s write lock', () => {
  const revocation = (store: SqliteDatastore) => store.certificates.revoke({ serial: '0a' }, 10, 'keyCompromise', () => ({ type: 'certificate.revoked', actor: 'x', data: {} }));
  const issuance = (store: SqliteDatastore) => store.certificates.recordIssued(issued('0b').record, issued('0b').event);
  const CASES = [
    { what: 'the readiness probe', behind: 'a revocation', writerThread: undefined, ahead: revocation, short: (store: SqliteDatastore) => store.writable() },
    { what: 'the readiness probe', behind: 'an issuance on the writer thread', writerThread: WRITER_THREAD, ahead: issuance, short: (store: SqliteDatastore) => store.writable() },
    {
      what: "a CRL set's number for a renewal by age", behind: 'an issuance on the writer thread', writerThread: WRITER_THREAD, ahead: issuance,
      short: (store: SqliteDatastore) => store.certificates.numberedRevocations([], 10, 250),
    },
  ];

  it.each(CASES)('$what (250 ms) is refused within a moment behind $behind (5 s), not once that gives up', async ({ writerThread, ahead, short }) => {
    const { store, other } = await issuedThenLockedElsewhere({ writerThread });
    const change = ahead(store).then(() => 'written', (err: unknown) => err);
    await new Promise((resolve) => setImmediate(resolve));
    const started = performance.now();
    const refused = await short(store).then(() => 'written', (err: unknown) => err);
    const waited = performance.now() - started;
    expect({ refused, quick: waited < 1500, changeStillWaiting: await Promise.race([change, Promise.resolve('waiting')]) }).toEqual({
      refused: expect.any(StoreBusyError), quick: true, changeStillWaiting: 'waiting',
    });
    other.exec('ROLLBACK');
    expect(await change).toBe('written');
  });
});

describe('SqliteStore audit log (SQLite-specific; the shared behaviour is in datastore-contract.test.ts)', () => {
  it('keeps the triggers for a connection that did not create them', async () => {
    const { store, dir } = openStore();
    await store.audit.append({ type: 'a', actor: 'meshca', data: {} });
    const other = new Database(join(dir, DATABASE_FILE));
    onTestFinished(() => {
      other.close();
    });
    expect(() => other.prepare('DELETE FROM audit_events').run()).toThrow('the audit log is append-only');
  });

  it("fails a batch of events at once while another connection holds the write lock (an operator's sqlite3, say), rather than waiting it out once per event", async () => {
    const lockWaitMs = 300;
    const { store, dir } = openStore({ lockWaitMs });
    const other = new Database(join(dir, DATABASE_FILE));
    onTestFinished(() => {
      other.close();
    });
    other.exec('BEGIN IMMEDIATE');
    const started = Date.now();
    // Each event waiting out the lock alone would keep the last caller waiting ten times as long.
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.audit.append({ type: 'refusal', actor: 'x', data: { i } })));
    const waited = Date.now() - started;
    expect(outcomes.map((o) => (o.status === 'rejected' ? store.unavailable(o.reason) : 'appended'))).toEqual(Array(10).fill(true));
    expect(waited).toBeLessThan(4 * lockWaitMs);
    other.exec('ROLLBACK');
  });
});

/** A store that recorded certificate 0a, and a second connection (an operator's sqlite3) then holding its write lock. */
async function issuedThenLockedElsewhere(options: SqliteOptions): Promise<{ store: SqliteDatastore; other: Database.Database }> {
  const { store, dir } = openStore(options);
  const other = new Database(join(dir, DATABASE_FILE));
  onTestFinished(() => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
  });
  const earlier = issued('0a');
  await store.certificates.recordIssued(earlier.record, earlier.event);
  other.exec('BEGIN IMMEDIATE');
  return { store, other };
}

describe('SqliteStore writes while another connection holds the write lock', () => {
  it('waits for the lock without holding up the event loop, the issuance writer thread beside it, and commits both once the lock is free', async () => {
    const { store, other } = await issuedThenLockedElsewhere({ writerThread: WRITER_THREAD });
    const { record, event } = issued('0b');
    const issuance = store.certificates.recordIssued(record, event);
    const revocation = store.certificates.revoke({ serial: '0a' }, 10, 'keyCompromise', () => ({ type: 'certificate.revoked', actor: 'x', data: {} }));

    // A timer is how anything else the CA serves gets its turn: before, it fired only once the revocation gave up.
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(performance.now() - started).toBeLessThan(500);

    other.exec('COMMIT');
    await issuance;
    expect(await revocation).toEqual(['0a']);
    expect(store.db.prepare("SELECT serial FROM certificates WHERE revoked_at IS NULL").all()).toEqual([{ serial: '0b' }]);
  });
});

describe('SqliteStore issuance on the writer thread while another connection holds the write lock past the wait', () => {
  it('is refused as StoreBusyError (Retry-After), within the one wait from when it was asked, though a revocation queued before it waited its own', async () => {
    const lockWaitMs = 1000;
    const { store, other } = await issuedThenLockedElsewhere({ writerThread: WRITER_THREAD, lockWaitMs });
    const revocation = store.certificates.revoke({ serial: '0a' }, 10, 'keyCompromise', () => ({ type: 'certificate.revoked', actor: 'x', data: {} }));
    const asked = performance.now();
    const { record, event } = issued('0b');
    const refused = await store.certificates.recordIssued(record, event).then(() => 'recorded', (err: unknown) => err);
    const waited = performance.now() - asked;

    // Before, the writer thread waited out its own busy timeout (5 s) after the revocation's wait, and said no more than "unavailable".
    expect({ refused, withinTheWait: waited < lockWaitMs + 2500 }).toEqual({ refused: expect.any(StoreBusyError), withinTheWait: true });
    await expect(revocation).rejects.toBeInstanceOf(StoreBusyError);
    other.exec('ROLLBACK');
    await store.certificates.recordIssued(record, event);
  }, 20_000);
});

describe('SqliteStore pruning', () => {
  it('removes a large backlog in slices, each its own transaction and audit event, serving the event loop between them', async () => {
    const { store } = openStore();
    const expired = 2 * PRUNE_SLICE + PRUNE_SLICE / 2;
    await Promise.all(Array.from({ length: expired + 1 }, (_, i) => {
      const { record, event } = issued(i.toString(16).padStart(6, '0'), 0, { notAfter: i < expired ? 100 : 10_000 });
      return store.certificates.recordIssued(record, event);
    }));
    const remaining = () => (store.db.prepare('SELECT COUNT(*) AS n FROM certificates').get() as { n: number }).n;

    const pruning = store.certificates.pruneExpired(1000, (count) => ({ type: 'certificates.pruned', actor: 'x', data: { count } }));
    // One turn of the event loop, as a request arriving meanwhile would get: before, it came only once every record was gone.
    await new Promise((resolve) => setImmediate(resolve));
    const meanwhile = remaining();

    expect({ removed: await pruning, meanwhile, after: remaining() }).toEqual({ removed: expired, meanwhile: expired + 1 - PRUNE_SLICE, after: 1 });
    const events = store.db.prepare("SELECT data FROM audit_events WHERE type = 'certificates.pruned' ORDER BY seq").all() as { data: string }[];
    expect(events.map((e) => JSON.parse(e.data).count)).toEqual([PRUNE_SLICE, PRUNE_SLICE, PRUNE_SLICE / 2]);
  });
});
