/**
 * Removing a directory of files from a directory someone else may also write
 * to (the agent's --out). A plain recursive removal walks names: swap the
 * directory for a link between the check and the walk, and it deletes
 * wherever the link points, with the remover's rights. Here the directory is
 * pinned (PinnedDirectory), checked to be the one that was seen, and emptied
 * through its descriptor.
 */
import type { Stats } from 'node:fs';
import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { PinnedDirectory } from './pinned-directory.js';

/**
 * Removes `path` if it is still the directory `seen` (its lstat) describes and
 * holds nothing but files and links. Says whether it did; anything else (a
 * subdirectory, a swap) leaves it in place.
 */
export async function removeFlatDirectory(path: string, seen: Stats): Promise<boolean> {
  const dir = await PinnedDirectory.open(path).catch(() => undefined);
  if (!dir) return false;
  try {
    if (dir.dev !== seen.dev || dir.ino !== seen.ino) return false;
    const names = await readdir(dir.path());
    for (const name of names) {
      if ((await lstat(dir.path(name))).isDirectory()) return false;
    }
    for (const name of names) {
      await unlink(dir.path(name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
  } finally {
    await dir.close();
  }
  // By name again, but rmdir removes only an empty directory and never follows a link.
  await rmdir(path).catch(() => undefined);
  return true;
}
