/**
 * One server per data directory, arbitrated by the kernel: the server holds
 * an exclusive lock on meshca.flock (SQLite's, which is an fcntl lock) for as
 * long as it runs, and the kernel drops it when the process ends, however it
 * ends. A PID in a file cannot make that call: after a reboot, or in a
 * container, a dead server's PID can belong to an unrelated live process, and
 * the data directory would stay locked for good. The holder's PID is written
 * to meshca.pid only to name it in the refusal. The lock is taken before the
 * datastore is opened, so a refused second server changes nothing.
 *
 * Earlier versions locked by writing their PID to meshca.lock. While an
 * upgrade is under way one of them may still run, holding no kernel lock; so
 * a meshca.lock naming a live process is still a refusal, and one naming none
 * is removed.
 */
import Database from 'better-sqlite3';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../config/options.js';
import { removeTemporaries, writeFileAtomic } from '../platform/atomic-file.js';
import { NotRegularFileError, readRegularFile } from '../platform/regular-file.js';
import { socketPath } from './local-socket.js';

export const LOCK_FILE = 'meshca.flock';
export const PID_FILE = 'meshca.pid';
/** The PID file earlier versions locked with. */
export const LEGACY_LOCK_FILE = 'meshca.lock';

export interface DataDirLock {
  release(): Promise<void>;
  /**
   * Releases it for a start refused in a data directory that start made:
   * meshca.flock goes too, removed while still held, so no newcomer can
   * hold a lock file that is then removed under it (see release).
   */
  releaseAndRemove(): Promise<void>;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

async function holderPid(dataDir: string): Promise<string> {
  const pid = (await readFile(join(dataDir, PID_FILE), 'utf8').catch(() => '')).trim();
  return /^[0-9]+$/.test(pid) ? ` (pid ${pid})` : '';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * What an earlier version's meshca.lock says, or undefined when there is none.
 * Earlier versions wrote it as a regular file: a symbolic link there is not
 * followed (it would lead the check to a file elsewhere, naming any process),
 * nor a FIFO waited on, but refused, as a restart would not remove it.
 */
async function readLegacyLock(path: string): Promise<string | undefined> {
  try {
    return (await readRegularFile(path)).data;
  } catch (err) {
    const what = (err as NodeJS.ErrnoException).code === 'ELOOP' ? 'a symbolic link' : err instanceof NotRegularFileError ? 'not a regular file' : undefined;
    // None there, or one this user cannot read: as before, no earlier server's lock to honour.
    if (what === undefined) return undefined;
    throw new ConfigError([`${path} is ${what}, not the lock file of an earlier meshca: remove it`]);
  }
}

/** Refuses while an earlier version's meshca.lock names a live process other than this one; removes it otherwise. */
async function retireLegacyLock(dataDir: string): Promise<void> {
  const path = join(dataDir, LEGACY_LOCK_FILE);
  const content = await readLegacyLock(path);
  if (content === undefined) return;
  const pid = /^[0-9]+\n?$/.test(content) ? Number(content) : undefined;
  if (pid !== undefined && pid !== process.pid && alive(pid)) {
    throw new Error(
      `${path} names pid ${pid}, which is running: a meshca server of an earlier version may be running on ${socketPath(dataDir)}; ` +
        'stop it, or remove that file if the process is not meshca',
    );
  }
  // Builds between the two layouts held their kernel lock on meshca.lock itself (an empty file).
  if (pid === undefined && lockedByAnother(path)) throw new Error(`another meshca server is already running on ${socketPath(dataDir)}`);
  await unlink(path).catch(() => undefined);
}

/**
 * An exclusive SQLite lock on `path`, held until the returned connection is
 * closed, or undefined when another holds it. timeout 0: a held lock is an
 * answer, not something to wait for; a journal in memory: the lock file is the
 * only file there is, and nothing is ever written to it.
 */
function takeKernelLock(path: string, options: { fileMustExist?: boolean } = {}): Database.Database | undefined {
  const db = new Database(path, { timeout: 0, ...options });
  try {
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN EXCLUSIVE');
    return db;
  } catch (err) {
    db.close();
    if (isBusy(err)) return undefined;
    throw err;
  }
}

/** Whether another process holds the kernel lock on `path`; a file that is no SQLite file is no lock. */
function lockedByAnother(path: string): boolean {
  try {
    const probe = takeKernelLock(path, { fileMustExist: true });
    probe?.close();
    return probe === undefined;
  } catch {
    return false;
  }
}

/**
 * The kernel's exclusive lock on `path` (made if missing), as the server holds
 * meshca.flock, or undefined while another process holds it; the file stays
 * when released.
 */
export function tryLockFile(path: string): { release(): void } | undefined {
  const held = takeKernelLock(path);
  return held && { release: () => held.close() };
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const guard = takeKernelLock(join(dataDir, LOCK_FILE));
  if (!guard) throw new Error(`another meshca server is already running on ${socketPath(dataDir)}${await holderPid(dataDir)}`);
  const pidFile = join(dataDir, PID_FILE);
  try {
    await retireLegacyLock(dataDir);
    // What a server killed while writing its PID file left; ours alone to remove now that the lock is held.
    await removeTemporaries(dataDir);
    await writeFileAtomic(pidFile, `${process.pid}\n`, 0o600).catch((err: NodeJS.ErrnoException) => {
      // A full disk otherwise says only "ENOSPC: no space left on device, write", naming no file.
      throw new Error(`cannot write ${pidFile}: ${err.message}`, { cause: err });
    });
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
    releaseAndRemove: async () => {
      await unlink(pidFile).catch(() => undefined);
      await unlink(join(dataDir, LOCK_FILE)).catch(() => undefined);
      guard.close();
    },
  };
}
