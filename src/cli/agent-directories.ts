/**
 * The agent's --state-dir, checked at start (--out is held to more, as
 * `meshca mint`'s: checkOutDirectory): a directory, or absent (the agent
 * makes it, so one it could not make, under /proc say, is refused too). A file there is refused before the agent
 * attests (ConfigError, exit 78), rather than found at the first
 * installation, by when the join token is spent and a restart needs another.
 */
import { stat } from 'node:fs/promises';
import { ConfigError } from '../config/options.js';
import { fileErrorText } from '../platform/file-error-text.js';
import { checkDirectoriesCanBeMade } from '../platform/missing-directories.js';

export async function refuseNonDirectory(path: string, what: string): Promise<void> {
  const found = await stat(path).catch((err: NodeJS.ErrnoException) => err);
  if (found instanceof Error) {
    const code = (found as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new ConfigError([`${what} ${path}: part of the path is a file, so no directory can be made there`]);
    if (code !== 'ENOENT') throw new ConfigError([`${what} ${path}: cannot be used: ${fileErrorText(found)}`]);
    // Absent: made only once an SVID is bought, so tried now (a path under /proc, a read-only file system).
    await checkDirectoriesCanBeMade(path).catch((err: Error) => {
      throw new ConfigError([`${what} ${path} cannot be made: ${err.message}`]);
    });
  } else if (!found.isDirectory()) {
    throw new ConfigError([`${what} ${path} is a file, not a directory: give the directory for the agent's files (it makes a missing one)`]);
  }
}
