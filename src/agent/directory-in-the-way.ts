/**
 * A directory found under a stable name of --out (svid.pem, svid_key.pem,
 * bundle.pem...), where the publisher puts a link into ..data. rename(2)
 * cannot put a link in a directory's place (EISDIR), so left there it blocks
 * every publication.
 *
 * The usual cause is Docker: a bind mount of OUT/svid.pem started before the
 * agent had written it makes an empty directory there. An empty directory
 * holds nothing anyone could lose, so it is removed (rmdir removes only an
 * empty directory and follows no link, so a file put into it meanwhile keeps
 * it where it is), and the caller is told, since a container that bind-mounted
 * it still sees the directory until it is restarted. A directory that holds
 * anything, or is a mount point, is someone's and is never removed nor moved:
 * the publication is refused, naming the path and what to do.
 */
import { rmdir } from 'node:fs/promises';

/** A directory under a stable name that the publisher may not remove: it holds something, or something is mounted on it. */
export class DirectoryInTheWayError extends Error {}

/**
 * Removes the empty directory at `path` (reached through the pinned --out),
 * which is `shown` to people, and says whether it did (false: already gone);
 * throws DirectoryInTheWayError for one it may not remove. `name` is the
 * stable name it stands under.
 */
export async function removeEmptyDirectoryInTheWay(path: string, shown: string, name: string): Promise<boolean> {
  try {
    await rmdir(path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    const why = code === 'EBUSY' ? 'something is mounted on it' : code === 'ENOTEMPTY' || code === 'EEXIST' ? 'it is not empty' : `it cannot be removed (${code ?? 'unknown error'})`;
    throw new DirectoryInTheWayError(
      `${shown} is a directory, where the link ${name} -> ..data/${name} goes, and ${why}: only an empty one is removed. ` +
        `Move it out of the directory, whose stable names are meshca's alone; a container should mount the directory rather than each file in it`,
      { cause: err },
    );
  }
}
