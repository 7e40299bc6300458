/**
 * Reading files from a directory someone else may also write to (the agent's
 * --out, shared with a proxy). Opened with O_NOFOLLOW, a name that is a
 * symbolic link fails instead of reading wherever the link points, and
 * O_NONBLOCK keeps a FIFO planted under the name from hanging the reader;
 * only a regular file, checked on the open descriptor, is read, and only up to
 * a bound. What someone could plant is then limited to content they could
 * write themselves: never a file they cannot read.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

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
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | (followLink ? 0 : constants.O_NOFOLLOW));
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new NotRegularFileError(`${path} is not a regular file`);
    const data = (await readAtMost(handle, maxBytes, path)).toString('utf8');
    const stamp = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
    return { data, mode: info.mode & 0o777, links: info.nlink, owner: info.uid, stamp };
  } finally {
    await handle.close();
  }
}

/** The whole file, refused past `maxBytes` however much it grows while being read. */
async function readAtMost(handle: FileHandle, maxBytes: number, path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const { bytesRead, buffer } = await handle.read({ buffer: Buffer.allocUnsafe(64 * 1024) });
    if (bytesRead === 0) return Buffer.concat(chunks, total);
    total += bytesRead;
    if (total > maxBytes) throw new NotRegularFileError(`${path} is larger than ${maxBytes} bytes`);
    chunks.push(buffer.subarray(0, bytesRead));
  }
}
