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
 *
 * The stable names are made before the first swap (dangling until then), so
 * a crash never leaves ..data without them; a restarted agent reading what is
 * installed (currentFiles) restores any that are missing all the same, and
 * removes the temporary links a crash left.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readlink, rename, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory, makeDirectory, removeTemporaries, temporaryPathFor, writeNewFile } from '../platform/atomic-file.js';
import { removeFlatDirectory } from '../platform/flat-directory.js';
import { withPinnedDirectory } from '../platform/pinned-directory.js';
import { readRegularFile, type RegularFile } from '../platform/regular-file.js';
import type { Clock } from '../time/clock.js';
import { removeEmptyDirectoryInTheWay } from './directory-in-the-way.js';

export interface PublishedFile {
  readonly name: string;
  readonly data: string;
  readonly mode: number;
}

export const DATA_LINK = '..data';

/** The names writeVersion gives versions: `..` and the UTC time, then six hex digits. */
const VERSION_NAME = /^\.\.\d{4}_\d{2}_\d{2}T\d{2}_\d{2}_\d{2}_\d{3}Z_[0-9a-f]{6}$/;

/**
 * Whether `name` is one this publisher gives its versions. --out may be
 * shared with a proxy that can write there too: ..data pointing anywhere
 * else, or a directory named otherwise, is not a version, so the agent
 * neither reads through it nor removes it.
 */
export function isVersionName(name: string): boolean {
  return VERSION_NAME.test(name);
}

/**
 * The swap took place, but the directory holding ..data could not be synced
 * (EIO): readers see `version` now, and a crash before the disk writes it out
 * may still bring the previous one back. The publication did happen; callers
 * treat it as done and say so, rather than publish an older set again.
 */
export class SwapNotDurableError extends Error {
  constructor(
    readonly version: string,
    cause: unknown,
  ) {
    super(`..data points at ${version}, but syncing the directory failed: ${(cause as Error).message}`, { cause });
  }
}

/** How long a superseded version stays readable at least. */
export const RETAIN_MS = 10_000;

export interface PublisherOptions {
  /**
   * Keep superseded versions for readers that resolved ..data just before a
   * swap (the default, for a proxy's --out). A one-shot writer with no such
   * readers (`meshca mint --out`) keeps only the current version, so an old
   * private key does not linger beside the new one.
   */
  readonly keepSuperseded?: boolean;
  /** The user whose directories are this publisher's to remove; the effective user unless a test says otherwise. */
  readonly user?: number;
  /**
   * Told of an empty directory removed from under a stable name (see
   * directory-in-the-way.ts): a container that bind-mounted it sees the file
   * only once restarted.
   */
  readonly removedEmptyDirectory?: (path: string) => void;
}

/**
 * --out itself is pinned too, for each publication or reading: opened without
 * following a link and then reached through its descriptor, so that a parent
 * directory others can write to (/tmp for `meshca mint --out /tmp/web`)
 * cannot have --out swapped for a link to another directory midway. A --out
 * that is a link is refused: give the directory itself.
 */
export class AtomicDirectoryPublisher {
  constructor(
    private readonly dir: string,
    private readonly clock: Clock,
    private readonly options: PublisherOptions = {},
  ) {}

  async publish(files: readonly PublishedFile[]): Promise<string> {
    await makeDirectory(this.dir, 0o755);
    return this.pinned((out) => out.publish(files));
  }

  /** The version ..data points at now, or undefined before the first publication (or when it points at no version). */
  async currentVersion(): Promise<string | undefined> {
    return this.pinned((out) => out.currentVersion()).catch(() => undefined);
  }

  /** See OutDirectory.currentFiles; undefined also when --out does not exist yet. */
  async currentFiles(): Promise<PublishedFile[] | undefined> {
    return this.pinned((out) => out.currentFiles()).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  }

  private pinned<T>(work: (out: OutDirectory) => Promise<T>): Promise<T> {
    return withPinnedDirectory(this.dir, undefined, (out) => work(new OutDirectory(out.path(), this.dir, this.clock, this.options))).catch(async (err: NodeJS.ErrnoException) => {
      // O_NOFOLLOW with O_DIRECTORY fails on a link with ELOOP or ENOTDIR, depending on the system.
      if ((err.code === 'ELOOP' || err.code === 'ENOTDIR') && (await lstat(this.dir).catch(() => undefined))?.isSymbolicLink()) {
        throw new Error(`--out ${this.dir} is a symbolic link; give the directory itself`, { cause: err });
      }
      throw err;
    });
  }
}

/** The publisher's work inside --out, reached as `dir`: the pinned descriptor's path; `shown` is the one given, for messages. */
class OutDirectory {
  constructor(
    private readonly dir: string,
    private readonly shown: string,
    private readonly clock: Clock,
    private readonly options: PublisherOptions,
  ) {}

  async publish(files: readonly PublishedFile[]): Promise<string> {
    const names = files.map((f) => f.name);
    await this.adoptPlainFiles(files);
    const version = await this.writeVersion(files);
    const previous = await this.currentVersion();
    await this.unlessDone(version, async () => {
      // Before the swap: killed right after it, the agent would leave ..data and no name a proxy opens.
      if (await this.linkStableNames(names)) await fsyncDirectory(this.dir);
      await this.pointDataAt(version);
    });
    await fsyncDirectory(this.dir).catch((err: unknown) => {
      // ..data points at the new version already: readers see it, so it is installed, only not yet durable. Older
      // versions stay (removeOldVersions is skipped): one of them may be what a crash now would leave ..data at.
      throw new SwapNotDurableError(version, err);
    });
    await this.removeOldVersions(this.options.keepSuperseded === false ? [version] : [version, previous]);
    // Temporary links a publication left when the disk refused their removal too (read-only midway): otherwise
    // only a restart would take them. Tidying: the new version is in place, so a failure here must not fail this.
    await removeTemporaries(this.dir).catch(() => undefined);
    return version;
  }

  /** The version ..data points at now, or undefined before the first publication (or when it points at no version). */
  async currentVersion(): Promise<string | undefined> {
    const target = await readlink(join(this.dir, DATA_LINK)).catch(() => undefined);
    return target !== undefined && isVersionName(target) ? target : undefined;
  }

  /**
   * The files of the current version, read through one resolution of ..data
   * (so they belong together), or undefined before the first publication or
   * when they cannot be read: what a restarted agent finds already installed.
   * A restarted agent calls this before it publishes anything, so it also
   * finishes what a crash of the last run interrupted: it removes temporary
   * links and gives every file of the version its stable name, which the
   * proxy needs to serve the SVID the agent now keeps.
   */
  async currentFiles(): Promise<PublishedFile[] | undefined> {
    // Tidying, as below: a disk still read-only must not hide the set the proxy serves (the agent would call itself
    // not ready, and ask for an SVID it cannot install). The next publication that succeeds removes them.
    await removeTemporaries(this.dir).catch(() => undefined);
    const version = await this.currentVersion();
    // Versions a failed publication of an older build left behind, a key among their files; the one the current
    // version superseded stays, as after a publication, for a reader that resolved ..data just before. And one made
    // after ..data was last swapped, however recent: a run killed before its swap, restarted at once, never made it
    // current, so no reader can be reading it. Tidying only.
    const swappedAtMs = version === undefined ? undefined : (await lstat(join(this.dir, DATA_LINK)).catch(() => undefined))?.mtimeMs;
    await this.previousVersion(version)
      .then((previous) => this.removeOldVersions([version, previous], swappedAtMs))
      .catch(() => undefined);
    if (version === undefined) return undefined;
    let files: PublishedFile[];
    try {
      files = await this.readVersion(version);
    } catch {
      return undefined;
    }
    // A stable name the disk will not let it make is left missing, which the agent's watch on --out then reports.
    if (await this.linkStableNames(files.map((f) => f.name)).catch(() => false)) await fsyncDirectory(this.dir);
    return files;
  }

  /**
   * Swaps ..data for a link to `version`. rename(2) cannot put a link in a
   * directory's place, so a directory found under the name (made by a tool
   * that copied --out following its links, say) would block every
   * publication for good: it is renamed aside first (..data.aside_TIME_HEX),
   * leaving no ..data for the moment between the two renames, where readers
   * were reading whatever it held rather than what the agent installed. Once
   * the link is in place, it is removed if it is this user's and holds only
   * files, as a version is; otherwise it stays under that name for its owner.
   */
  private async pointDataAt(version: string): Promise<void> {
    const path = join(this.dir, DATA_LINK);
    const found = await lstat(path).catch(() => undefined);
    let aside: string | undefined;
    if (found?.isDirectory()) {
      aside = join(this.dir, `${DATA_LINK}.aside_${this.uniqueStamp()}`);
      await rename(path, aside);
    }
    await replaceSymlink(this.dir, DATA_LINK, version);
    if (aside === undefined) return;
    const moved = await lstat(aside).catch(() => undefined);
    // Tidying: the link is in place, so a failure here must not fail the publication.
    if (moved?.isDirectory() && moved.uid === this.user()) await removeFlatDirectory(aside, moved).catch(() => false);
  }

  /** The newest version made before `current` (any, without one): names sort by the time they were made. */
  private async previousVersion(current: string | undefined): Promise<string | undefined> {
    return (await readdir(this.dir)).filter((name) => isVersionName(name) && (current === undefined || name < current)).sort().at(-1);
  }

  /**
   * A new version holding `files`, written through the directory pinned right
   * after it is made: renamed and replaced by a link meanwhile, the pin fails
   * rather than the files landing wherever the link points.
   */
  private async writeVersion(files: readonly PublishedFile[]): Promise<string> {
    const version = `..${this.uniqueStamp()}`;
    const versionDir = join(this.dir, version);
    await mkdir(versionDir, { mode: 0o755 });
    // Just made by this process, so its owner is this process's user whatever `user` says; another owner means a swap.
    await this.unlessDone(version, () =>
      withPinnedDirectory(versionDir, process.geteuid?.(), async (dir) => {
        for (const f of files) await writeNewFile(dir.path(f.name), f.data, f.mode);
        await dir.sync();
      }),
    );
    return version;
  }

  /**
   * Runs `work` towards making `version` current; if it fails, the version is
   * removed: never pointed at, it would otherwise keep a copy of the key in
   * --out, one more at every retry, on a disk that may be full already.
   */
  private async unlessDone(version: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      const path = join(this.dir, version);
      const entry = await lstat(path).catch(() => undefined);
      if (entry?.isDirectory() && entry.uid === process.geteuid?.()) await removeFlatDirectory(path, entry).catch(() => false);
      throw err;
    }
  }

  /** A version's files, each read as itself through the pinned directory (never through a link), in name order. */
  private readVersion(version: string): Promise<PublishedFile[]> {
    return withPinnedDirectory(join(this.dir, version), this.user(), async (dir) => {
      const names = (await readdir(dir.path())).sort();
      return Promise.all(
        names.map(async (name) => {
          const { data, mode } = await readRegularFile(dir.path(name));
          return { name, data, mode };
        }),
      );
    });
  }

  /** The UTC time, then six hex digits, as names in --out take it: they sort by the time they were made. */
  private uniqueStamp(): string {
    return `${new Date(this.clock.nowMs()).toISOString().replace(/[-:.]/g, '_')}_${randomBytes(3).toString('hex')}`;
  }

  /** The user whose versions these are: what it made, it reads back and removes; nobody else's. */
  private user(): number | undefined {
    return this.options.user ?? process.geteuid?.();
  }

  /**
   * Points each name at ..data/name where it does not already; says whether it
   * changed any. An empty directory under a name is removed first; any other
   * is refused (directory-in-the-way.ts).
   */
  private async linkStableNames(names: readonly string[]): Promise<boolean> {
    let changed = false;
    for (const name of names) {
      const target = join(DATA_LINK, name);
      const path = join(this.dir, name);
      if ((await readlink(path).catch(() => undefined)) === target) continue;
      if ((await lstat(path).catch(() => undefined))?.isDirectory() && (await removeEmptyDirectoryInTheWay(path, join(this.shown, name), name))) {
        this.options.removedEmptyDirectory?.(join(this.shown, name));
      }
      await replaceSymlink(this.dir, name, target);
      changed = true;
    }
    return changed;
  }

  /**
   * A directory written before this layout (`meshca mint` of older versions)
   * holds plain files under the stable names. Replaced one by one with links
   * into the new version, they would pair a new key with the old certificate
   * midway; so what they hold first becomes a version of its own, each link
   * then reads what the file it replaces held, and the swap that follows
   * changes them all at once. Only regular files, and links of this layout (a
   * crash midway through an earlier adoption), are read: never what a link
   * points at elsewhere, and a regular file only as itself (readRegularFile),
   * whatever its name was swapped for after the look, with no other name
   * (plainFile). They are written with the modes of the files that will
   * replace them, narrowed to the old file's: 0600 for a key whatever the old
   * file had, and never more readable than the old file was.
   */
  private async adoptPlainFiles(files: readonly PublishedFile[]): Promise<void> {
    const entries = await Promise.all(files.map((f) => lstat(join(this.dir, f.name)).catch(() => undefined)));
    if (!entries.some((entry) => entry?.isFile())) return;
    const version = await this.currentVersion();
    // The current version's files, read once for every layout link that needs them.
    let current: Promise<PublishedFile[]> | undefined;
    const fromCurrent = async (name: string) => {
      if (version === undefined) return undefined;
      current ??= this.readVersion(version).catch(() => []);
      return (await current).find((file) => file.name === name);
    };
    const held: PublishedFile[] = [];
    for (const [i, f] of files.entries()) {
      const path = join(this.dir, f.name);
      const ours = entries[i]?.isSymbolicLink() && (await readlink(path).catch(() => undefined)) === join(DATA_LINK, f.name);
      const found = entries[i]?.isFile() ? await readRegularFile(path).then(plainFile, () => undefined) : ours ? await fromCurrent(f.name) : undefined;
      // Never wider than the file was: a file someone moved or linked in is no more readable for its copy.
      if (found !== undefined) held.push({ name: f.name, data: found.data, mode: f.mode & found.mode });
    }
    const adopted = await this.writeVersion(held);
    await this.unlessDone(adopted, () => this.pointDataAt(adopted));
    await this.linkStableNames(held.map((f) => f.name));
    await fsyncDirectory(this.dir);
  }

  /**
   * Removes versions other than the current and previous ones once they are a
   * few seconds old, so that a reader which resolved ..data just before two
   * quick publications can still finish reading; at once, those last changed
   * after `neverCurrentAfterMs` (when ..data was last swapped), which it
   * never pointed at. Only directories this
   * publisher could have made (a version's name, owned by this user) are
   * removed, each through one descriptor (removeFlatDirectory): whoever else
   * can write to --out cannot turn the removal on files elsewhere.
   */
  private async removeOldVersions(keep: ReadonlyArray<string | undefined>, neverCurrentAfterMs?: number): Promise<void> {
    const retainMs = this.options.keepSuperseded === false ? 0 : RETAIN_MS;
    const user = this.user();
    for (const name of await readdir(this.dir)) {
      if (!isVersionName(name) || keep.includes(name)) continue;
      const path = join(this.dir, name);
      const entry = await lstat(path).catch(() => undefined);
      if (!entry?.isDirectory() || (user !== undefined && entry.uid !== user)) continue;
      // Its age either way: one made before the clock was set back (NTP correcting a clock that ran ahead) is dated
      // after now, and would otherwise keep a superseded private key in --out until the clock caught up, hours later.
      const age = Math.abs(this.clock.nowMs() - entry.mtimeMs);
      const neverCurrent = neverCurrentAfterMs !== undefined && entry.mtimeMs > neverCurrentAfterMs;
      // Tidying: the new version is already in place, so a failure here must not fail the publication.
      if (age >= retainMs || neverCurrent) await removeFlatDirectory(path, entry).catch(() => false);
    }
  }
}

/**
 * A plain file found under a stable name, as adoption takes it: one with
 * other names elsewhere (a hard link) is not adopted, since it is not a file
 * of this directory but one that also lives somewhere else.
 */
function plainFile(file: RegularFile): RegularFile | undefined {
  return file.links === 1 ? file : undefined;
}

/** Points `name` at `target` atomically: a new link under a temporary name, renamed over the old one. */
async function replaceSymlink(dir: string, name: string, target: string): Promise<void> {
  const path = join(dir, name);
  const temp = temporaryPathFor(path);
  await symlink(target, temp);
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}
