/**
 * One server per data directory, arbitrated by the kernel: the server holds
 * an exclusive lock on meshca.lock (SQLite's, which is an fcntl lock) for as
 * long as it runs, and the kernel drops it when the process ends, however it
 * ends. A PID in a file cannot make that call: after a reboot, or in a
 * container, a dead server's PID can belong to an unrelated live process, and
 * the data directory would stay locked for good. The holder's PID is written
 * to meshca.pid only to name it in the refusal. The lock is taken before the
 * datastore is opened, so a refused second server changes nothing.
 */
import Database from 'better-sqlite3';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../platform/atomic-file.js';
import { socketPath } from './local-socket.js';

export const LOCK_FILE = 'meshca.lock';
export const PID_FILE = 'meshca.pid';

export interface DataDirLock {
  release(): Promise<void>;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

async function holderPid(dataDir: string): Promise<string> {
  const pid = (await readFile(join(dataDir, PID_FILE), 'utf8').catch(() => '')).trim();
  return /^[0-9]+$/.test(pid) ? ` (pid ${pid})` : '';
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  // timeout 0: a held lock is an answer, not something to wait for.
  const guard = new Database(join(dataDir, LOCK_FILE), { timeout: 0 });
  try {
    // A journal in memory: the lock file is the only file there is, and nothing is ever written to it.
    guard.pragma('journal_mode = MEMORY');
    guard.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    guard.close();
    if (isBusy(err)) throw new Error(`another meshca server is already running on ${socketPath(dataDir)}${await holderPid(dataDir)}`);
    throw err;
  }
  const pidFile = join(dataDir, PID_FILE);
  try {
    await writeFileAtomic(pidFile, `${process.pid}\n`, 0o600);
  } catch (err) {
    guard.close();
    throw err;
  }
  return {
    release: async () => {
      await unlink(pidFile).catch(() => undefined);
      // The file stays: removing a held lock file would let a newcomer lock a new file by that name beside a holder of the old one.
      guard.close();
    },
  };
}
