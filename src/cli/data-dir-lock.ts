/**
 * One server per data directory. A lock file created with O_EXCL holds the
 * server's PID; a lock left by a process that is gone is taken over. It is
 * taken before the datastore is opened, so a refused second server changes
 * nothing.
 */
import { constants } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
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
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
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
}
