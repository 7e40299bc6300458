/**
 * Reading files from a directory someone else may also write to (the agent's
 * --out, shared with a proxy). Opened with O_NOFOLLOW, a name that is a
 * symbolic link fails instead of reading wherever the link points, and
 * O_NONBLOCK keeps a FIFO planted under the name from hanging the reader;
 * only a regular file, checked on the open descriptor, is read, and only up to
 * a bound. What someone could plant is then limited to content they could
 * write themselves: never a file they cannot read.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';

/** Larger than anything meshca writes (a CRL of a CA that revoked a great deal stays well below). */
export const MAX_REGULAR_FILE_BYTES = 16 * 1024 * 1024;

export class NotRegularFileError extends Error {}

export interface RegularFile {
  readonly data: string;
  /** The permission bits (mode & 0o777). */
  readonly mode: number;
  /** How many names the file has: more than one means it also lives elsewhere. */
  readonly links: number;
  /** The user who owns it. */
  readonly owner: number;
  /** Changes whenever the file is rewritten or replaced (device, inode, size and modification time). */
  readonly stamp: string;
}

/**
 * `path` as UTF-8 text, when it names a regular file itself; throws otherwise
 * (a link, a FIFO, a directory, too large). With `followLink`, a link to a
 * regular file is read too: for a file that is a link by design, such as a
 * key of a Kubernetes Secret volume.
 */
export async function readRegularFile(path: string, maxBytes = MAX_REGULAR_FILE_BYTES, followLink = false): Promise<RegularFile> {
  const handle = await open(path, openFlags(followLink));
  try {
    const read = new BoundedRead(path, await handle.stat(), maxBytes);
    for (;;) {
      const { bytesRead, buffer } = await handle.read(read.next());
      if (!read.took(bytesRead, buffer)) return read.file();
    }
  } finally {
    await handle.close();
  }
}

/** readRegularFile for a configuration read once at start, before anything runs. */
export function readRegularFileSync(path: string, maxBytes = MAX_REGULAR_FILE_BYTES, followLink = false): RegularFile {
  const fd = openSync(path, openFlags(followLink));
  try {
    const read = new BoundedRead(path, fstatSync(fd), maxBytes);
    for (;;) {
      const buffer = read.next();
      if (!read.took(readSync(fd, buffer), buffer)) return read.file();
    }
  } finally {
    closeSync(fd);
  }
}

function openFlags(followLink: boolean): number {
  return constants.O_RDONLY | constants.O_NONBLOCK | (followLink ? 0 : constants.O_NOFOLLOW);
}

/** The reading of one opened file: refused unless it is a regular file, and past `maxBytes` however much it grows while being read. */
class BoundedRead {
  private readonly chunks: Buffer[] = [];
  private total = 0;

  constructor(
    private readonly path: string,
    private readonly info: Stats,
    private readonly maxBytes: number,
  ) {
    if (!info.isFile()) throw new NotRegularFileError(`${path} is not a regular file`);
  }

  /** A buffer for the next read. */
  next(): Buffer {
    return Buffer.allocUnsafe(64 * 1024);
  }

  /** Takes what one read brought; false at the end of the file. */
  took(bytesRead: number, buffer: Buffer): boolean {
    if (bytesRead === 0) return false;
    this.total += bytesRead;
    if (this.total > this.maxBytes) throw new NotRegularFileError(`${this.path} is larger than ${this.maxBytes} bytes`);
    this.chunks.push(buffer.subarray(0, bytesRead));
    return true;
  }

  file(): RegularFile {
    const info = this.info;
    const data = Buffer.concat(this.chunks, this.total).toString('utf8');
    const stamp = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
    return { data, mode: info.mode & 0o777, links: info.nlink, owner: info.uid, stamp };
  }
}
