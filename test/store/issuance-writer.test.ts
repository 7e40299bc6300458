/**
 * The issuance writer thread's handle: answers each write once the thread
 * has committed it, fails what a dying thread held, and starts a new thread
 * for the next write. (The datastore contract runs every store behaviour
 * against the real thread; these cases need a thread that misbehaves.)
 */
import { describe, expect, it } from 'vitest';
import { IssuanceWriterThread } from '../../src/store/sqlite/issuance-writer.js';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { UnavailableError } from '../../src/errors.js';
import { openSqliteDatastore } from '../../src/store/sqlite/datastore.js';
import { CommitUnconfirmedError, sqliteUnavailable } from '../../src/store/unavailable.js';
import { FakeClock } from '../support/fake-clock.js';
import { issued } from '../support/store-records.js';
import { tempDir } from '../support/temp-dir.js';

/** A stand-in thread written inline: `body` runs on each message with `port` and `message` in scope. */
const thread = (body: string) =>
  new URL(`data:text/javascript,${encodeURIComponent(`import { parentPort as port } from 'node:worker_threads'; port.on('message', (message) => { ${body} });`)}`);

describe('IssuanceWriterThread', () => {
  const one = issued('01');

  it('resolves a write when the thread reports it committed, and rejects with the reason it gives', async () => {
    const writer = new IssuanceWriterThread(
      thread(`if (message.op === 'close') return port.close();
        port.postMessage(message.items[0].record.serial === '01' ? { id: message.id } : { id: message.id, error: 'UNIQUE constraint failed' });`),
      '/unused',
    );
    await expect(writer.write([one], 1)).resolves.toBeUndefined();
    await expect(writer.write([issued('02')], 1)).rejects.toThrow('UNIQUE constraint failed');
    await writer.close();
  });

  it('keeps the code of the error the thread reports, by which a busy or full database is told from a bad item', async () => {
    const writer = new IssuanceWriterThread(
      thread(`if (message.op === 'close') return port.close();
        port.postMessage({ id: message.id, error: 'database is locked', code: 'SQLITE_BUSY' });`),
      '/unused',
    );
    const failure = await writer.write([one], 1).then(() => undefined, (err: unknown) => err);
    expect(failure).toMatchObject({ message: 'database is locked', code: 'SQLITE_BUSY' });
    expect(sqliteUnavailable(failure)).toBe(true);
    await writer.close();
  });

  it('refuses a write that comes once it is closed, starting no thread that would commit it and keep the process running', async () => {
    const writer = new IssuanceWriterThread(
      thread(`if (message.op === 'close') return port.close();
        port.postMessage({ id: message.id });`),
      '/unused',
    );
    await writer.write([one], 1);
    await writer.close();
    await expect(writer.write([issued('02')], 1)).rejects.toThrow('the datastore was closed');
  });

  it('fails the writes a dying thread held, as perhaps committed, and starts a new thread for the next one', async () => {
    const writer = new IssuanceWriterThread(thread(`process.exit(3)`), '/unused');
    for (let i = 0; i < 2; i++) {
      const failure = await writer.write([one], 1).then(() => undefined, (err: unknown) => err);
      expect(failure).toBeInstanceOf(CommitUnconfirmedError);
      expect((failure as Error).cause).toMatchObject({ message: 'the issuance writer thread exited with code 3' });
    }
  });
});

describe('a writer thread that dies between a commit and its answer', () => {
  /** The real writer's batch, committed, and then the thread gone before it answers. */
  const dist = (path: string) => pathToFileURL(resolve(import.meta.dirname, '../../dist/src', path)).href;
  const commitsThenDies = new URL(
    `data:text/javascript,${encodeURIComponent(`
      import { parentPort as port, workerData } from 'node:worker_threads';
      import { connect } from '${dist('store/sqlite/database.js')}';
      import { prepareIssuanceBatchBy } from '${dist('store/sqlite/issuance-batch.js')}';
      import { receivedBytes } from '${dist('platform/thread-bytes.js')}';
      const db = connect(workerData.path);
      const write = prepareIssuanceBatchBy(db);
      port.on('message', (message) => {
        if (message.op === 'close') return port.close();
        write(message.items.map(({ record, event }) => ({ record: { ...record, certDer: receivedBytes(record.certDer) }, event })), message.at, message.waitMs);
        process.exit(1);
      });`)}`,
  );

  it('tells the caller the record may have been made (store_unavailable, a 503), not that no certificate was issued; it was recorded', async () => {
    const dir = tempDir();
    const store = openSqliteDatastore(dir, new FakeClock(), { writerThread: commitsThenDies });
    const { record, event } = issued('0a');
    const failure = await store.certificates.recordIssued(record, event).then(() => undefined, (err: unknown) => err);
    await store.close();
    expect(failure).toBeInstanceOf(UnavailableError);
    expect(failure).toMatchObject({ code: 'store_unavailable', message: "the datastore did not confirm the issuance's record (it may have been made); the certificate was not handed out" });
    const again = openSqliteDatastore(dir, new FakeClock());
    try {
      expect(await again.registrations.credential('0a')).toBeDefined();
    } finally {
      await again.close();
    }
  });
});
