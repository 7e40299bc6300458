/**
 * Removing a directory of files from a directory someone else may also write
 * to (the agent's --out). A plain recursive removal walks names: swap the
 * directory for a link between the check and the walk, and it deletes
 * wherever the link points, with the remover's rights. Here the directory is
 * opened once, without following a link, checked to be the one that was seen,
 * and emptied through its descriptor's /proc/self/fd path, so that every
 * unlink lands in that very directory whatever its name points at by then.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Linux's names for a process's open descriptors; a path through one reaches the file the descriptor holds. */
const DESCRIPTORS = '/proc/self/fd';

/**
 * Removes `path` if it is still the directory `seen` (its lstat) describes and
 * holds nothing but files and links. Says whether it did; anything else (a
 * subdirectory, a swap, no /proc) leaves it in place.
 */
export async function removeFlatDirectory(path: string, seen: Stats): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    const info = await handle.stat();
    if (info.dev !== seen.dev || info.ino !== seen.ino) return false;
    const pinned = join(DESCRIPTORS, String(handle.fd));
    const names = await readdir(pinned).catch(() => undefined);
    if (names === undefined) return false;
    for (const name of names) {
      if ((await lstat(join(pinned, name))).isDirectory()) return false;
    }
    for (const name of names) {
      await unlink(join(pinned, name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
  } finally {
    await handle.close();
  }
  // By name again, but rmdir removes only an empty directory and never follows a link.
  await rmdir(path).catch(() => undefined);
  return true;
}
