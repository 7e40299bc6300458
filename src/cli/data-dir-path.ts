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
  const open = await openToOthers(real, 'above');
  if (open === undefined) return real;
  const where = open.dir === real ? `the data directory ${dataDir}` : `${open.dir} (above the data directory ${dataDir})`;
  if ('renamers' in open) {
    throw new Error(`${where}: ${open.renamers} may rename what is in it, and so put another socket in place of the CA's; ${RENAMERS_FIX}`);
  }
  throw new Error(`${where} belongs to user ${open.owner}, neither root nor this user (${process.geteuid?.()}), who could put another data directory in its place`);
}

/** A directory someone besides root and this user may change: who may rename its entries, or the other user who owns it. */
export type OpenDirectory = { readonly dir: string; readonly renamers: string } | { readonly dir: string; readonly owner: number };

/**
 * The first directory, from the real path `real` up to /, that someone
 * besides root and this user can change: one where another user or group may
 * rename entries (sticky bit aside), or one another user owns (not checked of
 * `real` itself when `ownersFrom` is 'above', as a data directory may be the
 * CA's user's). Undefined when there is none: then what is made or checked
 * at a path under `real` stays there, and may be used by path.
 */
export async function openToOthers(real: string, ownersFrom: 'itself' | 'above'): Promise<OpenDirectory | undefined> {
  const user = process.geteuid?.();
  for (let dir = real, above = false; ; dir = dirname(dir), above = true) {
    const info = await stat(dir);
    const renamers = renamersBesidesOwner(info, ownGroups());
    if (renamers !== undefined) return { dir, renamers };
    if ((above || ownersFrom === 'itself') && user !== undefined && info.uid !== 0 && info.uid !== user) return { dir, owner: info.uid };
    if (dir === dirname(dir)) return undefined;
  }
}
