/**
 * Whether the CLI can trust what it finds in a data directory: that no one
 * but root, the CA's user and the CLI's own user can put something else at
 * its path. The CLI checks the socket's owner and then connects by name; in
 * a directory where another user can rename entries, or under one where they
 * can rename the directory itself, they could swap in their own socket (or
 * directory) between the two, or before both, and have the CLI believe their
 * answers. The rule for each directory on the way is sshd's StrictModes (and
 * sudo's): owned by root or this user, and no one else may rename its
 * entries; the data directory itself may be the CA's user's.
 */
import { realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RENAMERS_FIX, renamersBesidesOwner } from '../platform/directory-writers.js';
import { ownGroups } from './data-dir-access.js';

/** The data directory's real path, once neither it nor a directory above it can be changed by another user. */
export async function trustedDataDir(dataDir: string): Promise<string> {
  // Checked and then used as resolved: a link on the way, in a directory this check never sees, cannot be repointed between.
  const real = await realpath(dataDir);
  const user = process.geteuid?.();
  for (let dir = real, above = false; ; dir = dirname(dir), above = true) {
    const info = await stat(dir);
    const renamers = renamersBesidesOwner(info, ownGroups());
    const where = above ? `${dir} (above the data directory ${dataDir})` : `the data directory ${dataDir}`;
    if (renamers !== undefined) {
      throw new Error(`${where}: ${renamers} may rename what is in it, and so put another socket in place of the CA's; ${RENAMERS_FIX}`);
    }
    if (above && user !== undefined && info.uid !== 0 && info.uid !== user) {
      throw new Error(`${where} belongs to user ${info.uid}, neither root nor this user (${user}), who could put another data directory in its place`);
    }
    if (dir === dirname(dir)) return real;
  }
}
