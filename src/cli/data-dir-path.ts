/**
 * Whether what is found at a data directory's path can be trusted: that no
 * one but root, the CA's user and this process's own user can put something
 * else at that path, or could have put it there first. The CLI checks the
 * socket's owner and then connects by name; in a directory where another user
 * can rename entries, or under one where they can rename the directory
 * itself, they could swap in their own socket (or directory) between the two,
 * or before both, and have the CLI believe their answers. The server reads
 * its keys and datastore there: another user who could put another directory
 * at its path at a restart could hand it an older backup (revocations
 * undone) or an empty directory (a new root). The rule for each directory on
 * the way is sshd's StrictModes (and sudo's): owned by root or this user, and
 * no one else may rename its entries. Where others may still add names (a
 * sticky directory, as /tmp), what is found there, the data directory or a
 * symbolic link on the way to it, must be root's or this user's: another
 * user may have made it first (the rule of the kernel's protected_symlinks).
 * Elsewhere the data directory itself may be the CA's user's.
 */
import { chmod, lstat, mkdir, readlink, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fsyncDirectory } from '../platform/atomic-file.js';
import { RENAMERS_FIX, addersBesidesOwner, renamersBesidesOwner } from '../platform/directory-writers.js';

/** A data directory at a path another user could change, or whose directory or links another user may have made. */
export class UntrustedDataDirPathError extends Error {
  override readonly name = 'UntrustedDataDirPathError';
}

/** As the kernel's limit on the symbolic links followed in one lookup (ELOOP). */
const MAX_LINKS = 40;

/** Groups whose write access to a directory is no one else's: root's, and the process's own. */
export function ownGroups(): number[] {
  return [0, process.getegid?.() ?? 0];
}

function trustedOwner(uid: number): boolean {
  const user = process.geteuid?.();
  return user === undefined || uid === 0 || uid === user;
}

/**
 * The data directory's real path, resolved a name at a time from / (or the
 * working directory, which the kernel keeps resolved), and each directory a
 * name is looked up in, and each link followed, checked as the module's
 * comment says. The data directory itself is checked only for who made it;
 * who may change what is in it is for the caller to say (trustedDataDir, or
 * the server's checkDataDirAccess). It is checked and then used as resolved:
 * nothing on the way can be repointed between by another user, since none
 * can change any directory it was looked up in.
 */
export async function resolveDataDirPath(dataDir: string, noun = 'data directory', shown = dataDir): Promise<string> {
  const user = process.geteuid?.();
  const pending = (dataDir.startsWith('/') ? dataDir : `${process.cwd()}/${dataDir}`).split('/');
  let dir = '/';
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      dir = dirname(dir);
      continue;
    }
    const parent = await stat(dir);
    const renamers = renamersBesidesOwner(parent, ownGroups());
    const above = `${dir} (above the ${noun} ${shown})`;
    if (renamers !== undefined) {
      throw new UntrustedDataDirPathError(`${above}: ${renamers} may rename what is in it, and so put another ${noun} in place of the one there; ${RENAMERS_FIX}, or choose a ${noun} elsewhere`);
    }
    if (!trustedOwner(parent.uid)) {
      throw new UntrustedDataDirPathError(`${above} belongs to user ${parent.uid}, neither root nor this user (${user}), who could put another ${noun} in its place; run this as user ${parent.uid}, or choose a ${noun} elsewhere`);
    }
    const path = join(dir, name);
    const entry = await lstat(path);
    const adders = addersBesidesOwner(parent, ownGroups());
    if (adders !== undefined && !trustedOwner(entry.uid)) {
      const what = entry.isSymbolicLink() ? `${path}, a symbolic link on the way to the ${noun} ${shown},` : pending.some((n) => n !== '' && n !== '.') || shown !== dataDir ? `${path}, on the way to the ${noun} ${shown},` : `the ${noun} ${shown}`;
      throw new UntrustedDataDirPathError(
        `${what} belongs to user ${entry.uid}, neither root nor this user (${user}), in ${dir}, where ${adders} may add names: that user may have made it first; ` +
          `if it is the CA's, run this as the CA's user; otherwise keep the ${noun} in a directory only root and the CA's user may add names to`,
      );
    }
    if (entry.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new UntrustedDataDirPathError(`${shown}: more than ${MAX_LINKS} symbolic links on the way to it`);
      const target = await readlink(path);
      if (target.startsWith('/')) dir = '/';
      pending.unshift(...target.split('/'));
      continue;
    }
    if (!entry.isDirectory()) throw new UntrustedDataDirPathError(`${path}, on the way to the ${noun} ${shown}, is not a directory`);
    dir = path;
  }
  return dir;
}

/** The data directory's real path, once neither it nor a directory or link on the way to it can be changed by another user, or have been made by one. */
export async function trustedDataDir(dataDir: string): Promise<string> {
  const real = await resolveDataDirPath(dataDir);
  const renamers = renamersBesidesOwner(await stat(real), ownGroups());
  if (renamers !== undefined) {
    throw new UntrustedDataDirPathError(`the data directory ${dataDir}: ${renamers} may rename what is in it, and so put another socket in place of the CA's; ${RENAMERS_FIX}`);
  }
  return real;
}

/** A directory someone besides root and this user may change: who may rename its entries, or the other user who owns it. */
export type OpenDirectory = { readonly dir: string; readonly renamers: string } | { readonly dir: string; readonly owner: number };

/**
 * The first directory, from the real path `real` up to /, that someone
 * besides root and this user can change: one where another user or group may
 * rename entries (sticky bit aside), or one another user owns. Undefined when
 * there is none: then what is made or checked under `real` stays there, and
 * may be used by path (`datastore backup`'s target).
 */
export async function openToOthers(real: string): Promise<OpenDirectory | undefined> {
  for (let dir = real; ; dir = dirname(dir)) {
    const info = await stat(dir);
    const renamers = renamersBesidesOwner(info, ownGroups());
    if (renamers !== undefined) return { dir, renamers };
    if (!trustedOwner(info.uid)) return { dir, owner: info.uid };
    if (dir === dirname(dir)) return undefined;
  }
}

/**
 * Makes `path` and any directory missing above it, with `mode` whatever the
 * umask, and returns its real path. The nearest one that exists is resolved
 * and checked first (resolveDataDirPath, with `noun` naming what it is for),
 * and what is missing is made a name at a time: where others may add names
 * (a sticky /tmp), another user may make a missing name first, and then it
 * is theirs, refused rather than made into (mkdir -p would take it). Each one
 * made is this user's and 0700 or 0755, so nobody else can add to it.
 * `onMade` hears of each directory this call made, outermost first.
 */
export async function makeCheckedDirectory(path: string, mode: number, noun: string, onMade: (dir: string) => void = () => undefined): Promise<string> {
  const wanted = resolve(path);
  let existing = wanted;
  while (!(await lstat(existing).then(() => true, () => false))) existing = dirname(existing);
  let dir = await resolveDataDirPath(existing, noun, path);
  for (const name of relative(existing, wanted).split('/').filter((n) => n !== '')) {
    const made = join(dir, name);
    const fresh = await mkdir(made, { mode }).then(() => true, (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
      return false;
    });
    const entry = await lstat(made);
    if (!entry.isDirectory() || !trustedOwner(entry.uid)) {
      throw new UntrustedDataDirPathError(
        `${made}, on the way to the ${noun} ${path}, was made by user ${entry.uid} while this made the directories there${entry.isDirectory() ? '' : ', and is not a directory'}: another user may add names in ${dir}; choose a ${noun} elsewhere`,
      );
    }
    if (fresh) {
      onMade(made);
      await chmod(made, mode);
      await fsyncDirectory(dir);
    }
    dir = made;
  }
  return dir;
}
