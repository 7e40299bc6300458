/**
 * Crash-safe file replacement: write a temporary file in the same directory,
 * fsync it, rename it over the target and fsync the directory. A reader sees
 * the old content or the new, never a mix, and a crash leaves no half file
 * under the target name. It can leave the temporary file, which holds what was
 * being written (a CA private key, say): whoever owns the directory removes
 * those on its next start (removeTemporaries).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync } from 'node:fs';
import { link, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { makeMissingDirectories, makeMissingDirectoriesSync } from './missing-directories.js';

/** O_DIRECTORY: a FIFO planted under a directory's name fails at once rather than blocking the open. */
const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, DIRECTORY_FLAGS);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function fsyncDirectorySync(dir: string): void {
  const fd = openSync(dir, DIRECTORY_FLAGS);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The directories `mkdir -p dir` created, from the first up to `dir`, given
 * the first one it created (what a recursive mkdir returns); each is an entry
 * in its parent that must reach the disk before what is written inside counts.
 */
function parentsToSync(dir: string, first: string | undefined): string[] {
  if (first === undefined) return [];
  const parents: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    parents.push(dirname(d));
    if (d === resolve(first) || d === dirname(d)) return parents;
  }
}

/**
 * `mkdir -p` that survives a crash: the directory holding each directory it
 * creates is fsynced, as rename's is in writeFileAtomic. Without that, a key
 * written and fsynced into a directory made moments before a power cut can
 * vanish with the directory. `syncDirectory` is replaceable for tests.
 * Made a component at a time (missing-directories.ts): a path under /proc
 * fails rather than spin.
 */
export async function makeDirectory(dir: string, mode: number, syncDirectory = fsyncDirectory): Promise<void> {
  for (const parent of parentsToSync(dir, await makeMissingDirectories(dir, mode))) await syncDirectory(parent);
}

/** makeDirectory for callers that must stay synchronous (opening the embedded datastore). */
export function makeDirectorySync(dir: string, mode: number, syncDirectory = fsyncDirectorySync): void {
  for (const parent of parentsToSync(dir, makeMissingDirectoriesSync(dir, mode))) syncDirectory(parent);
}

/** Writes `data` to a new file with `mode`, flushed to disk; fails if the path exists. */
export async function writeNewFile(path: string, data: string | Buffer, mode: number): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The names writeFileAtomic gives its temporary files: `.<target>.<12 hex>.tmp`. */
const TEMPORARY = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * Where to write `path`'s next content before renaming it into place. Every
 * temporary name comes from here, so that removeTemporaries finds whatever a
 * crash left.
 */
export function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

export function isTemporaryName(name: string): boolean {
  return TEMPORARY.test(name);
}

/**
 * Removes the temporary files a crashed writeFileAtomic left in `dir`; call it
 * only while nothing else writes there. Returns the names removed.
 */
export async function removeTemporaries(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of names.filter(isTemporaryName)) {
    try {
      await unlink(join(dir, name));
      removed.push(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  if (removed.length) await fsyncDirectory(dir);
  return removed;
}

export async function writeFileAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  const dir = dirname(path);
  const temp = temporaryPathFor(path);
  try {
    await writeNewFile(temp, data, mode);
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await fsyncDirectory(dir);
}

/**
 * As writeFileAtomic, for a file that must not exist yet: it is linked into
 * place rather than renamed, so an existing file of that name is never
 * replaced (EEXIST) and a crash leaves either no file or the whole one.
 */
export async function writeNewFileAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  const temp = temporaryPathFor(path);
  try {
    await writeNewFile(temp, data, mode);
    await link(temp, path);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await fsyncDirectory(dirname(path));
}
