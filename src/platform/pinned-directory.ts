/**
 * A directory in a place someone else may also write to (the agent's --out),
 * opened once and then reached only through its descriptor. Opened with
 * O_NOFOLLOW and O_DIRECTORY, a name swapped for a link (or a FIFO) fails
 * instead of leading elsewhere; checked to belong to the expected user, a
 * directory someone else made is refused; and every name inside is reached
 * through the descriptor's /proc/self/fd path, so whatever the directory's
 * own name points at by then, reads, writes and removals land in this very
 * directory. Node has no openat(2); that path is its equivalent on Linux.
 */
import { constants, existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** Linux's names for a process's open descriptors. */
const DESCRIPTORS = '/proc/self/fd';
const HAS_DESCRIPTOR_PATHS = existsSync(DESCRIPTORS);

export class NotOwnDirectoryError extends Error {}

export class PinnedDirectory {
  private constructor(
    private readonly handle: FileHandle,
    /** Where names inside are reached: the descriptor's path, or (without /proc) the name it was opened by. */
    private readonly base: string,
    readonly dev: number,
    readonly ino: number,
  ) {}

  /**
   * Opens `path`, which must be a directory itself (not a link to one) and,
   * when `owner` is given, belong to that user.
   */
  static async open(path: string, owner?: number): Promise<PinnedDirectory> {
    const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      const info = await handle.stat();
      if (owner !== undefined && info.uid !== owner) throw new NotOwnDirectoryError(`${path} belongs to user ${info.uid}, not ${owner}`);
      return new PinnedDirectory(handle, HAS_DESCRIPTOR_PATHS ? join(DESCRIPTORS, String(handle.fd)) : path, info.dev, info.ino);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** The path that reaches `name` in this directory (the directory itself for ''). */
  path(name = ''): string {
    return name ? join(this.base, name) : this.base;
  }

  /** Makes the directory's entries durable. */
  sync(): Promise<void> {
    return this.handle.sync();
  }

  /** Gives the directory itself (not whatever its name points at by then) to `uid`:`gid`. */
  chown(uid: number, gid: number): Promise<void> {
    return this.handle.chown(uid, gid);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** Runs `work` on `path` pinned, closing it whatever happens. */
export async function withPinnedDirectory<T>(path: string, owner: number | undefined, work: (dir: PinnedDirectory) => Promise<T>): Promise<T> {
  const dir = await PinnedDirectory.open(path, owner);
  try {
    return await work(dir);
  } finally {
    await dir.close();
  }
}
