/**
 * Publishes the SVID, its key and the bundle into --out as one unit, in the
 * layout Kubernetes' atomic writer uses and Envoy's watched_directory expects:
 *
 *   OUT/..2026_11_25T22_00_00_123_ab12/  one immutable directory per version
 *   OUT/..data -> ..2026_...             swapped atomically by rename(2)
 *   OUT/svid.pem -> ..data/svid.pem      stable names for readers
 *
 * Every file is written and fsynced before the swap, so a reader that
 * resolves ..data once sees a complete set that belongs together, and a crash
 * leaves either the old set or the new one. Older versions are removed, except
 * the previous one and any published in the last ten seconds, which a reader
 * may still be reading.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory, makeDirectory, writeNewFile } from '../platform/atomic-file.js';
import type { Clock } from '../time/clock.js';

export interface PublishedFile {
  readonly name: string;
  readonly data: string;
  readonly mode: number;
}

export const DATA_LINK = '..data';

/** How long a superseded version stays readable at least. */
export const RETAIN_MS = 10_000;

export class AtomicDirectoryPublisher {
  constructor(
    private readonly dir: string,
    private readonly clock: Clock,
  ) {}

  async publish(files: readonly PublishedFile[]): Promise<string> {
    await makeDirectory(this.dir, 0o755);
    const version = `..${new Date(this.clock.nowMs()).toISOString().replace(/[-:.]/g, '_')}_${randomBytes(3).toString('hex')}`;
    const versionDir = join(this.dir, version);
    await mkdir(versionDir, { mode: 0o755 });
    for (const f of files) await writeNewFile(join(versionDir, f.name), f.data, f.mode);
    await fsyncDirectory(versionDir);

    const previous = await readlink(join(this.dir, DATA_LINK)).catch(() => undefined);
    await replaceSymlink(this.dir, DATA_LINK, version);
    for (const f of files) {
      const target = join(DATA_LINK, f.name);
      if ((await readlink(join(this.dir, f.name)).catch(() => undefined)) !== target) await replaceSymlink(this.dir, f.name, target);
    }
    await fsyncDirectory(this.dir);
    await this.removeOldVersions([version, previous]);
    return version;
  }

  /** Where ..data points now, or undefined before the first publication. */
  async currentVersion(): Promise<string | undefined> {
    return readlink(join(this.dir, DATA_LINK)).catch(() => undefined);
  }

  /**
   * The files of the current version, read through one resolution of ..data
   * (so they belong together), or undefined before the first publication or
   * when they cannot be read: what a restarted agent finds already installed.
   */
  async currentFiles(): Promise<PublishedFile[] | undefined> {
    const version = await this.currentVersion();
    if (version === undefined) return undefined;
    const dir = join(this.dir, version);
    try {
      const names = (await readdir(dir)).sort();
      return await Promise.all(
        names.map(async (name) => {
          const path = join(dir, name);
          const [data, stat] = await Promise.all([readFile(path, 'utf8'), lstat(path)]);
          return { name, data, mode: stat.mode & 0o777 };
        }),
      );
    } catch {
      return undefined;
    }
  }

  /**
   * Removes versions other than the current and previous ones once they are a
   * few seconds old, so that a reader which resolved ..data just before two
   * quick publications can still finish reading.
   */
  private async removeOldVersions(keep: ReadonlyArray<string | undefined>): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (!name.startsWith('..') || name === DATA_LINK || keep.includes(name)) continue;
      const path = join(this.dir, name);
      const stat = await lstat(path);
      if (stat.isDirectory() && this.clock.nowMs() - stat.mtimeMs >= RETAIN_MS) await rm(path, { recursive: true, force: true });
    }
  }
}

/** Points `name` at `target` atomically: a new link under a temporary name, renamed over the old one. */
async function replaceSymlink(dir: string, name: string, target: string): Promise<void> {
  const temp = join(dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
  await symlink(target, temp);
  try {
    await rename(temp, join(dir, name));
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}
