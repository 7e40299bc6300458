/**
 * The issuance writer thread's handle: answers each write once the thread
 * has committed it, fails what a dying thread held, and starts a new thread
 * for the next write. (The datastore contract runs every store behaviour
 * against the real thread; these cases need a thread that misbehaves.)
 */
import { describe, expect, it } from 'vitest';
import { IssuanceWriterThread } from '../../src/store/sqlite/issuance-writer.js';
import { sqliteUnavailable } from '../../src/store/unavailable.js';
import { issued } from '../support/store-records.js';

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

  it('fails the writes a dying thread held, and starts a new thread for the next one', async () => {
    const writer = new IssuanceWriterThread(thread(`process.exit(3)`), '/unused');
    await expect(writer.write([one], 1)).rejects.toThrow('the issuance writer thread exited with code 3');
    await expect(writer.write([one], 1)).rejects.toThrow('exited with code 3');
  });
});
