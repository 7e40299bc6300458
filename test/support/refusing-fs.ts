/**
 * node:fs/promises on a disk that starts refusing writes at a chosen step, to
 * test what a write cut short leaves. A test file installs it with
 *
 *   vi.mock('node:fs/promises', async (real) => (await import('../support/refusing-fs.js')).refusingFs(await real()));
 *
 * and then `refuseFrom(n, kind)` lets n steps (calls that change the disk,
 * each file write among them) through, and fails every later step the disk
 * would refuse: a full disk ('ENOSPC') refuses whatever takes space (making a
 * file, a directory or a link, writing), and still removes and renames; a
 * read-only one ('EROFS') refuses every change. A write refused midway leaves
 * the first half of its data, as a disk filling up does. `accept()` is the
 * disk taking writes again. `failDirectorySyncsFrom(n)` lets n fsyncs of a
 * directory (opened with O_DIRECTORY) through and fails every later one with
 * EIO, as a disk failing under the page cache does, until accept(); nothing
 * else fails then. This module imports no node:fs/promises itself.
 */
import { constants } from 'node:fs';

export type Refusal = 'ENOSPC' | 'EROFS';

/** Changes that take space: a full disk refuses them; the rest it still does. */
const ALLOCATING = new Set(['mkdir', 'symlink', 'link', 'writeFile', 'appendFile', 'copyFile', 'open', 'handle.writeFile', 'handle.write']);
const CHANGING = new Set([...ALLOCATING, 'rename', 'unlink', 'rm', 'rmdir', 'chmod']);

interface DiskState {
  stepsLeft: number;
  refusal: Refusal | undefined;
  steps: number;
  /** Directory fsyncs that still succeed. */
  directorySyncsLeft: number;
}

const disk: DiskState = { stepsLeft: Infinity, refusal: undefined, steps: 0, directorySyncsLeft: Infinity };

/** Lets `syncs` more fsyncs of a directory through, then fails each with EIO, until accept(). */
export function failDirectorySyncsFrom(syncs: number): void {
  disk.directorySyncsLeft = syncs;
}

/** Lets `steps` more changes through, then refuses those a `kind` disk refuses, until accept(). */
export function refuseFrom(steps: number, kind: Refusal): void {
  disk.stepsLeft = steps;
  disk.refusal = kind;
  disk.steps = 0;
}

/** The disk has room again (or is writable again). Returns how many changing steps were taken since refuseFrom. */
export function accept(): number {
  disk.stepsLeft = Infinity;
  disk.refusal = undefined;
  disk.directorySyncsLeft = Infinity;
  return disk.steps;
}

/** Whether the call now failing is `name`'s, counting it as a step when it changes the disk. */
function refused(name: string): Refusal | undefined {
  if (!CHANGING.has(name)) return undefined;
  disk.steps++;
  if (disk.stepsLeft > 0) {
    disk.stepsLeft--;
    return undefined;
  }
  const kind = disk.refusal;
  return kind === 'EROFS' || (kind === 'ENOSPC' && ALLOCATING.has(name)) ? kind : undefined;
}

function failure(kind: Refusal, name: string): NodeJS.ErrnoException {
  const text = kind === 'ENOSPC' ? 'no space left on device' : 'read-only file system';
  return Object.assign(new Error(`${kind}: ${text}, ${name}`), { code: kind });
}

/** Opening for writing changes the disk (it makes the file); opening to read does not. */
function opensForWriting(flags: unknown): boolean {
  if (typeof flags === 'number') return (flags & (constants.O_WRONLY | constants.O_RDWR | constants.O_CREAT)) !== 0;
  return typeof flags === 'string' && /[wa+]/.test(flags);
}

export function refusingFs<T extends object>(real: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(real)) {
    wrapped[name] = typeof value === 'function' ? wrap(name, value as (...args: unknown[]) => Promise<unknown>) : value;
  }
  return { ...wrapped, default: wrapped } as T;
}

function wrap(name: string, fn: (...args: unknown[]) => Promise<unknown>): (...args: unknown[]) => Promise<unknown> {
  return async (...args) => {
    if (name === 'open') {
      if (opensDirectory(args[1])) return syncingDirectoryHandle((await fn(...args)) as object);
      if (!opensForWriting(args[1])) return fn(...args);
      const kind = refused(name);
      if (kind) throw failure(kind, name);
      return writingHandle((await fn(...args)) as object);
    }
    const kind = refused(name);
    if (kind) throw failure(kind, name);
    return fn(...args);
  };
}

/** Opening a directory (to sync it, or to reach names through it). */
function opensDirectory(flags: unknown): boolean {
  return typeof flags === 'number' && (flags & constants.O_DIRECTORY) !== 0;
}

type Method = (...args: unknown[]) => Promise<unknown>;

/** `handle` with the methods `names` replaced by what `replace` makes of each (bound to the handle); the rest as they are. */
function replacingMethods(handle: object, names: readonly string[], replace: (method: Method, name: string, target: object) => Method): object {
  return new Proxy(handle, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const method = (value as Method).bind(target);
      return typeof prop === 'string' && names.includes(prop) ? replace(method, prop, target) : method;
    },
  });
}

/** A directory's handle whose sync fails once failDirectorySyncsFrom's count is spent. */
function syncingDirectoryHandle(handle: object): object {
  return replacingMethods(handle, ['sync'], (sync) => async () => {
    if (disk.directorySyncsLeft <= 0) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    disk.directorySyncsLeft--;
    return sync();
  });
}

/** A file handle whose writes are steps too: one refused writes half its data, then fails. */
function writingHandle(handle: object): object {
  return replacingMethods(handle, ['writeFile', 'write'], (method, name, target) => async (data: unknown, ...rest: unknown[]) => {
    const kind = refused(`handle.${name}`);
    if (!kind) return method(data, ...rest);
    if (kind === 'ENOSPC' && (typeof data === 'string' || Buffer.isBuffer(data))) {
      await (target as { writeFile(d: string | Buffer): Promise<void> }).writeFile(data.slice(0, Math.floor(data.length / 2)));
    }
    throw failure(kind, `write`);
  });
}
