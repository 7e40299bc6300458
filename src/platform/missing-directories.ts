/**
 * `mkdir -p` one component at a time. Node 20's recursive mkdir loops for
 * ever, at full CPU, where a directory exists but takes no new entries
 * (procfs: `mkdir /proc/x` is ENOENT although /proc is there): it reads the
 * ENOENT as a missing parent, makes the parent (EEXIST), and tries again. Made
 * here non-recursively, each component is tried once, and such a path fails.
 */
import { mkdirSync, statSync, type Stats } from 'node:fs';
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

function absentOnly(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT') return undefined;
  throw err;
}

/** `dir` resolved, then each directory above it up to the root. */
function* upwards(dir: string): Generator<string> {
  for (let d = resolve(dir); ; d = dirname(d)) {
    yield d;
    if (d === dirname(d)) return;
  }
}

/** What `dir` that exists as something else says, as recursive mkdir said it. */
function notADirectory(dir: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EEXIST: file already exists, mkdir '${dir}'`), { code: 'EEXIST', path: dir });
}

/**
 * A component's mkdir refused: ENOENT under a parent that was there is a file
 * system that takes no new directories there (procfs), said in words rather
 * than as "no such file or directory" of a path whose parent exists.
 */
function refusal(d: string, err: NodeJS.ErrnoException): NodeJS.ErrnoException {
  if (err.code !== 'ENOENT') return err;
  const message = `cannot make directory ${d} (ENOENT): ${dirname(d)} takes no new directories (a file system such as /proc), or was removed meanwhile`;
  return Object.assign(new Error(message, { cause: err }), { code: err.code, path: d });
}

/** Notes `d` as missing, or says the walk up is over (`d` exists); `dir` itself there as no directory is refused. */
function stopsAt(d: string, found: Stats | undefined, missing: string[]): boolean {
  if (found === undefined) {
    missing.unshift(d);
    return false;
  }
  if (missing.length === 0 && !found.isDirectory()) throw notADirectory(d);
  return true;
}

/** The result of one component's mkdir: whether this call made it (EEXIST of a directory: another made it meanwhile). */
function made(d: string, err: NodeJS.ErrnoException | undefined, found: () => Stats | undefined): boolean {
  if (err === undefined) return true;
  if (err.code === 'EEXIST' && found()?.isDirectory()) return false;
  throw refusal(d, err);
}

async function missingOf(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (const d of upwards(dir)) if (stopsAt(d, await stat(d).catch(absentOnly), missing)) break;
  return missing;
}

/** One component's mkdir: whether this call made it; a refusal is thrown. */
async function makeOne(d: string, mode: number): Promise<boolean> {
  const err = await mkdir(d, { mode }).then(() => undefined, (e: NodeJS.ErrnoException) => e);
  const after = err && (await stat(d).catch(absentOnly));
  return made(d, err, () => after);
}

/** Makes `dir` and its missing parents with `mode`; returns the outermost this call made, as recursive mkdir does, or undefined. */
export async function makeMissingDirectories(dir: string, mode: number): Promise<string | undefined> {
  let first: string | undefined;
  for (const d of await missingOf(dir)) if (await makeOne(d, mode)) first ??= d;
  return first;
}

/**
 * Throws what making `dir` would meet (a file system that takes no new
 * directories, EACCES, EROFS), leaving nothing made: the outermost missing
 * directory is made and removed again. Those below it are made inside one
 * this user just made, so the first is the one that can be refused.
 */
export async function checkDirectoriesCanBeMade(dir: string): Promise<void> {
  const [outermost] = await missingOf(dir);
  if (outermost !== undefined && (await makeOne(outermost, 0o700))) await rmdir(outermost);
}

/** makeMissingDirectories for callers that must stay synchronous. */
export function makeMissingDirectoriesSync(dir: string, mode: number): string | undefined {
  const missing: string[] = [];
  for (const d of upwards(dir)) if (stopsAt(d, statSync(d, { throwIfNoEntry: false }), missing)) break;
  let first: string | undefined;
  for (const d of missing) {
    let err: NodeJS.ErrnoException | undefined;
    try {
      mkdirSync(d, { mode });
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    if (made(d, err, () => statSync(d, { throwIfNoEntry: false }))) first ??= d;
  }
  return first;
}
