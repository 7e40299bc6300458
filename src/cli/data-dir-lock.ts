/**
 * One server per data directory. The lock file holds the server's PID from
 * the moment it exists: it is written under a temporary name and hard-linked
 * into place, which fails if a lock is already there (a lock created empty and
 * filled afterwards could be read empty, and taken over as stale, by a second
 * server starting at that instant). A lock left by a process that is gone is
 * taken over. It is taken before the datastore is opened, so a refused second
 * server changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { socketPath } from './local-socket.js';

export const LOCK_FILE = 'meshca.lock';

export interface DataDirLock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const path = join(dataDir, LOCK_FILE);
  // Unique even between two containers that are both PID 1 on a shared volume.
  const mine = join(dataDir, `.${LOCK_FILE}.${process.pid}.${randomUUID()}`);
  await writeFile(mine, `${process.pid}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(mine, path);
        return { release: () => unlink(path).catch(() => undefined) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
          throw new Error(`another meshca server is already running on ${socketPath(dataDir)} (pid ${pid})`);
        }
        await unlink(path).catch(() => undefined); // left by a server that is gone
      }
    }
    throw new Error(`cannot lock ${path}`);
  } finally {
    await unlink(mine).catch(() => undefined);
  }
}
